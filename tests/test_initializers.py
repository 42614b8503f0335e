"""LyapunovNormal / LyapunovOrthogonal: distribution, seeds, serialization, input checks."""

import json
import math
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

import keras_lyapunov
from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, theory

INITIALIZERS = (LyapunovNormal, LyapunovOrthogonal)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def float64_available():
    """JAX gives float32 for float64 requests unless jax_enable_x64 is set."""
    if keras.backend.backend() != "jax":
        return True
    import jax

    return bool(jax.config.jax_enable_x64)


def tolerance(value):
    return 1e-12 if keras.backend.standardize_dtype(value.dtype) == "float64" else 2e-6


# ---------------------------------------------------------------- distribution


def test_normal_kernel_is_an_untruncated_gaussian_with_sigma_crit():
    init = LyapunovNormal(slope=0.01, seed=keras.random.SeedGenerator(1))
    draws = np.stack([to_numpy(init((10, 10))) for _ in range(2000)]).ravel()
    n = draws.size
    sigma = theory.critical_scale(10, 0.01)
    assert abs(draws.mean()) < 4 * sigma / math.sqrt(n)
    assert abs(draws.std() - sigma) < 4 * sigma / math.sqrt(2 * n)
    # Untruncated: 4.55% of a Gaussian lies beyond 2 sigma (HeNormal has none).
    p = 2 * 0.022750131948179195
    beyond = np.mean(np.abs(draws) > 2 * sigma)
    assert abs(beyond - p) < 4 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("shape", [(10, 10), (30, 10), (4, 10), (784, 10)])
def test_normal_rectangular_kernels_use_the_exact_scale(shape):
    init = LyapunovNormal(slope=0.2, seed=keras.random.SeedGenerator(2))
    draws = np.stack([to_numpy(init(shape)) for _ in range(max(1, 20000 // math.prod(shape)))])
    sigma = theory.critical_scale(shape[1], 0.2, fan_in=shape[0])
    assert init.scale(shape) == sigma
    assert abs(draws.std() - sigma) < 4 * sigma / math.sqrt(2 * draws.size)


@pytest.mark.parametrize("shape", [(10, 10), (25, 10), (4, 10), (1, 1), (64, 3)])
def test_orthogonal_kernel_has_orthonormal_columns_or_rows_times_eta(shape):
    fan_in, units = shape
    value = LyapunovOrthogonal(slope=0.1, seed=3)(shape, dtype="float64")
    w = to_numpy(value).astype("float64")
    eta = theory.critical_scale(units, 0.1, distribution="orthogonal", fan_in=fan_in)
    gram = w.T @ w if fan_in >= units else w @ w.T
    np.testing.assert_allclose(gram, eta**2 * np.eye(min(shape)),
                               atol=tolerance(value) * max(1.0, eta**2))


def test_orthogonal_kernel_is_haar_distributed():
    # Entries of a Haar d x d orthogonal matrix have mean 0 and variance 1/d;
    # the sign-corrected QR makes every diagonal entry symmetric about 0.
    init = LyapunovOrthogonal(slope=1.0, seed=keras.random.SeedGenerator(4))
    d, count = 6, 3000
    eta = theory.critical_scale(d, 1.0, distribution="orthogonal")
    draws = np.stack([to_numpy(init((d, d))) for _ in range(count)]) / eta
    se = math.sqrt(1 / d / count)
    assert np.all(np.abs(draws.mean(axis=0)) < 5 * se)
    assert abs(np.mean(draws[:, 0, 0] > 0) - 0.5) < 4 * math.sqrt(0.25 / count)
    assert abs(np.mean(draws**2) - 1 / d) < 0.01 / d


def test_conv_kernels_use_the_keras_matrix_view():
    shape = (3, 3, 4, 8)  # fan_in = 36 patch values, 8 output channels
    sigma = theory.critical_scale(8, 0.1, fan_in=36)
    eta = theory.critical_scale(8, 0.1, distribution="orthogonal", fan_in=36)
    assert LyapunovNormal(0.1).scale(shape) == sigma
    value = LyapunovOrthogonal(0.1, seed=5)(shape, dtype="float64")
    w = to_numpy(value).astype("float64").reshape(36, 8)
    np.testing.assert_allclose(w.T @ w, eta**2 * np.eye(8), atol=tolerance(value) * eta**2)


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_floating_dtypes(cls, dtype):
    if dtype == "float64" and not float64_available():
        pytest.skip("JAX without jax_enable_x64 has no float64 (it returns float32)")
    value = cls(0.01, seed=1)((8, 8), dtype=dtype)
    assert keras.backend.standardize_dtype(value.dtype) == dtype
    assert np.all(np.isfinite(to_numpy(keras.ops.cast(value, "float32"))))


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_weights_are_backend_tensors_not_numpy(cls):
    value = cls(0.01, seed=1)((10, 10))
    assert keras.ops.is_tensor(value), type(value)
    assert not isinstance(value, np.ndarray)


# ---------------------------------------------------------------- the theory at work


def deep_stack_log_gains(kernel_initializer, networks, depth=100, width=10, slope=0.01):
    """log(||h_L|| / ||x||) of `networks` independent Dense/LeakyReLU stacks."""
    layers = [keras.Input((width,))]
    for _ in range(depth):
        layers += [
            keras.layers.Dense(width, use_bias=False, kernel_initializer=kernel_initializer),
            keras.layers.LeakyReLU(negative_slope=slope),
        ]
    model = keras.Sequential(layers)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    rng = np.random.default_rng(0)
    gains = []
    for _ in range(networks):
        for layer in dense:  # a fresh network: re-draw every kernel
            layer.kernel.assign(kernel_initializer((width, width)))
        x = rng.standard_normal((1, width)).astype("float32")
        y = to_numpy(model(x))
        gains.append(math.log(np.linalg.norm(y) / np.linalg.norm(x)))
    return np.array(gains)


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_deep_stack_has_zero_mean_log_gain(cls):
    networks, depth = 200, 100
    init = cls(slope=0.01, seed=keras.random.SeedGenerator(7))
    gains = deep_stack_log_gains(init, networks, depth)
    std = math.sqrt(depth) * theory.log_gain_std(10, 0.01, distribution=cls.distribution)
    assert abs(gains.mean()) < 4 * std / math.sqrt(networks), gains.mean()
    # and the spread is the CLT spread sqrt(L) * s (sample std, 200 networks)
    assert abs(gains.std(ddof=1) - std) < 4 * std / math.sqrt(2 * (networks - 1))


def test_he_initialization_drifts_by_minus_15_7():
    networks, depth = 200, 100
    sigma_he = theory.he_scale(10, 0.01)
    init = keras.initializers.RandomNormal(stddev=sigma_he, seed=keras.random.SeedGenerator(8))
    gains = deep_stack_log_gains(init, networks, depth)
    predicted = depth * theory.lyapunov_exponent(10, 0.01, scale=sigma_he)
    assert abs(predicted + 15.73) < 0.01
    std = math.sqrt(depth) * theory.log_gain_std(10, 0.01)
    assert abs(gains.mean() - predicted) < 4 * std / math.sqrt(networks)


def test_building_a_model_with_a_common_slope_integrates_nothing(no_quadrature):
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(64, kernel_initializer=LyapunovNormal(0.01)),
        keras.layers.LeakyReLU(0.01),
        keras.layers.Dense(10, kernel_initializer=LyapunovOrthogonal(0.3)),
    ])
    assert len(model.weights) == 4


# ---------------------------------------------------------------- seeds


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_int_and_none_seeds_repeat_values_and_warn_on_reuse(cls):
    for seed in (42, None):
        init = cls(seed=seed)
        first = to_numpy(init((5, 5)))
        with pytest.warns(UserWarning, match="identical kernels"):
            second = to_numpy(init((5, 5)))
        np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(to_numpy(cls(seed=42)((5, 5))),
                                  to_numpy(cls(seed=42)((5, 5))))


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_seed_generator_gives_fresh_values_and_is_reproducible(cls):
    init = cls(seed=keras.random.SeedGenerator(3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first, second = to_numpy(init((5, 5))), to_numpy(init((5, 5)))
    assert not [w for w in caught if "called again" in str(w.message)]  # no reuse warning
    assert not np.array_equal(first, second)
    again = cls(seed=keras.random.SeedGenerator(3))
    np.testing.assert_array_equal(first, to_numpy(again((5, 5))))


@pytest.mark.parametrize("cls", INITIALIZERS)
def test_clones_of_unseeded_instances_differ(cls):
    init = cls()
    clone = init.clone()
    assert clone.get_config() == init.get_config()
    assert not np.array_equal(to_numpy(init((5, 5))), to_numpy(clone((5, 5))))
    assert not np.array_equal(to_numpy(cls()((5, 5))), to_numpy(cls()((5, 5))))


# ---------------------------------------------------------------- serialization


class SerializationTest(TestCase):
    def test_keras_class_serialization(self):
        for cls in INITIALIZERS:
            for seed in (None, 3, keras.random.SeedGenerator(5)):
                self.run_class_serialization_test(cls(slope=0.2, seed=seed))

    def test_get_by_registered_name(self):
        init = keras.initializers.get("keras_lyapunov>LyapunovOrthogonal")
        self.assertIsInstance(init, LyapunovOrthogonal)
        self.assertEqual(init.slope, 0.01)
        init = keras.initializers.get(
            {"class_name": "keras_lyapunov>LyapunovNormal",
             "config": {"slope": 0.3, "seed": 4}})
        self.assertIsInstance(init, LyapunovNormal)
        self.assertEqual(init.get_config(), {"slope": 0.3, "seed": 4})

    def test_config_mirrors_init(self):
        for cls in INITIALIZERS:
            self.assertEqual(cls(slope=-0.5, seed=9).get_config(), {"slope": -0.5, "seed": 9})
            self.assertEqual(cls().get_config(), {"slope": 0.01, "seed": None})


def test_saved_model_reloads_in_a_new_process(tmp_path):
    path = str(tmp_path / "model.keras")
    model = keras.Sequential([
        keras.Input((12,)),
        keras.layers.Dense(10, kernel_initializer=LyapunovNormal(slope=0.1, seed=1)),
        keras.layers.LeakyReLU(0.1),
        keras.layers.Dense(10, kernel_initializer=LyapunovOrthogonal(slope=0.1, seed=2)),
    ])
    model.save(path)
    config = json.dumps(model.get_config(), sort_keys=True)
    script = textwrap.dedent(f"""
        import json, sys
        import keras
        import keras_lyapunov
        model = keras.models.load_model({path!r})
        print(json.dumps(model.get_config(), sort_keys=True))
        kernel_init = model.layers[-1].kernel_initializer
        assert isinstance(kernel_init, keras_lyapunov.LyapunovOrthogonal), kernel_init
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == config


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("slope", [0, 0.0, float("nan"), float("inf"), -float("inf"), True,
                                   "0.01", None, [0.01]])
def test_bad_slope(cls, slope):
    with pytest.raises(ValueError, match="slope"):
        cls(slope=slope)


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("seed", ["1", 1.5, True, [1]])
def test_bad_seed(cls, seed):
    with pytest.raises(ValueError, match="seed"):
        cls(seed=seed)


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("shape", [(), (10,), (0, 10), (10, 0), (10.5, 3), (True, 3), None])
def test_bad_shape(cls, shape):
    with pytest.raises(ValueError, match="shape"):
        cls(seed=1)(shape)


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("dtype", ["int32", "bool", "uint8"])
def test_non_floating_dtype(cls, dtype):
    with pytest.raises(ValueError, match="dtype"):
        cls(seed=1)((3, 3), dtype=dtype)


def test_public_api():
    for name in ("LyapunovNormal", "LyapunovOrthogonal", "critical_scale", "log_gain_std",
                 "lyapunov_exponent"):
        assert hasattr(keras_lyapunov, name)


def test_same_seed_same_weights_in_two_processes():
    script = textwrap.dedent("""
        import hashlib, keras
        from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal
        digest = hashlib.sha256()
        for cls in (LyapunovNormal, LyapunovOrthogonal):
            for shape in ((10, 10), (30, 7), (3, 3, 4, 8)):
                value = cls(slope=0.1, seed=42)(shape)
                digest.update(keras.ops.convert_to_numpy(value).tobytes())
            batch = cls(slope=0.1, seed=7).draw_batch(5, (10, 10))
            digest.update(keras.ops.convert_to_numpy(batch).tobytes())
        print(digest.hexdigest())
    """)
    digests = set()
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1


@pytest.mark.parametrize("cls", INITIALIZERS)
@pytest.mark.parametrize("seed", [-1, 2**32, 2**40, 1.5, True])
def test_seeds_every_backend_cannot_use_are_rejected_at_construction(cls, seed):
    # JAX takes uint32 seeds only: the same range is enforced on every backend, at once.
    with pytest.raises(ValueError, match=r"`seed` must be None, an integer with 0 <= seed < 2\*\*32"):
        cls(seed=seed)
    assert cls(seed=2**32 - 1)((2, 2)) is not None
