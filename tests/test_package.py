"""The package's import: light for the mathematics, registering for Keras."""

import subprocess
import sys
import textwrap

import pytest


def run(code, tmp_path=None):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def test_the_theory_and_the_table_import_no_keras():
    assert run("""
        import sys
        import keras_lyapunov.theory
        from keras_lyapunov import cli, critical_scale
        cli.main(["table", "--slope", "0.01", "--widths", "10"])
        critical_scale(10, 0.01)
        print(sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules))
    """) == "[]"


@pytest.mark.parametrize("order", ["keras_lyapunov first", "keras first", "a name first"])
def test_importing_the_package_registers_the_serializables(order):
    first = {"keras_lyapunov first": "import keras_lyapunov\nimport keras",
             "keras first": "import keras\nimport keras_lyapunov",
             "a name first": "from keras_lyapunov import LyapunovOrthogonal\nimport keras"}[order]
    assert run(first + """
import keras
names = ["keras_lyapunov>LyapunovNormal", "keras_lyapunov>LyapunovOrthogonal",
         "keras_lyapunov>SampledLyapunov"]
print(all(keras.saving.get_registered_object(name) is not None for name in names))
""") == "True"


def test_a_saved_model_reloads_after_importing_the_package(tmp_path):
    path = str(tmp_path / "model.keras")
    run(f"""
        import keras
        from keras_lyapunov import LyapunovOrthogonal
        keras.Sequential([keras.Input((4,)), keras.layers.Dense(
            3, kernel_initializer=LyapunovOrthogonal(0.1, seed=1))]).save({path!r})
    """)
    assert run(f"""
        import keras_lyapunov
        import keras
        model = keras.models.load_model({path!r})
        print(model.layers[0].kernel_initializer.get_config())
    """) == "{'slope': 0.1, 'seed': 1}"


def test_public_names_load_on_first_use():
    import keras_lyapunov

    for name in keras_lyapunov.__all__:
        assert getattr(keras_lyapunov, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        keras_lyapunov.nothing  # noqa: B018


def test_all_is_the_lazy_names_and_the_theory():
    import keras_lyapunov

    assert sorted(keras_lyapunov.__all__) == sorted(
        [*keras_lyapunov._LAZY, "critical_scale", "log_gain_std", "lyapunov_exponent",
         "recommended_k", "theory"])
