"""The experiment building blocks: methods, MLPs, LSUV, IDX data, training loops."""

import gzip
import math
import struct

import keras
import numpy as np
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, SampledLyapunov
from keras_lyapunov.experiments import (
    METHODS,
    build_mlp,
    load_image_data,
    lsuv,
    median_table,
    prepare,
    read_idx,
    train_classifier,
    train_regression,
)


def write_idx(path, array):
    with gzip.open(path, "wb") as handle:
        handle.write(struct.pack(">HBB", 0, 8, array.ndim))
        handle.write(struct.pack(f">{array.ndim}I", *array.shape))
        handle.write(array.astype(np.uint8).tobytes())


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (96, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 96))
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (32, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 32))
    return tmp_path


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "a.gz")), array)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00")
    with pytest.raises(ValueError, match="unsigned-byte IDX"):
        read_idx(str(tmp_path / "bad"))


def test_load_image_data_from_idx_files(idx_dir, tmp_path_factory):
    (x_train, y_train), (x_test, y_test) = load_image_data(data_dir=str(idx_dir))
    assert x_train.shape == (96, 784) and x_test.shape == (32, 784)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert y_train.dtype == np.int32 and set(np.unique(y_test)) <= set(range(10))
    with pytest.raises(FileNotFoundError, match="data-dir"):
        load_image_data(data_dir=str(tmp_path_factory.mktemp("empty")))


@pytest.mark.parametrize("method", list(METHODS))
def test_build_mlp_layers_and_initializers(method):
    slope = 0.01
    model = build_mlp(3, 4, 5, 2, method=method, slope=slope, seed=0)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    leaky = [layer for layer in model.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(dense) == 7 and len(leaky) == 6
    assert all(layer.negative_slope == slope for layer in leaky)
    assert dense[0].kernel.shape == (3, 4) and dense[-1].kernel.shape == (4, 2)
    hidden, first, last = (dense[3].kernel_initializer, dense[0].kernel_initializer,
                           dense[-1].kernel_initializer)
    if "lyapunov-normal" in method:
        assert isinstance(hidden, LyapunovNormal) and hidden.slope == slope
        assert first.get_config()["distribution"] == "untruncated_normal"
        assert first.scale == pytest.approx(2 / (1 + slope**2))
        assert last.scale == pytest.approx(1.0)  # He at slope 1 for the linear output
    if "lyapunov-orthogonal" in method:
        assert isinstance(hidden, LyapunovOrthogonal)
        assert first.gain == pytest.approx(math.sqrt(2 / (1 + slope**2)))
        assert last.gain == pytest.approx(1.0)
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in dense[1:-1]]
    assert not any(np.array_equal(kernels[0], k) for k in kernels[1:])  # distinct seeds
    again = build_mlp(3, 4, 5, 2, method=method, slope=slope, seed=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.layers[2].kernel),
                                  keras.ops.convert_to_numpy(model.layers[2].kernel))


def test_lsuv_gives_unit_output_variance():
    model = build_mlp(20, 8, 6, 3, method="lsuv", seed=1)
    x = np.random.default_rng(0).uniform(size=(256, 20)).astype("float32")
    variances = lsuv(model, x)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(variances) == len(dense)
    probe = keras.Model(model.inputs[0], [layer.output for layer in dense])
    measured = [float(np.var(keras.ops.convert_to_numpy(y))) for y in probe(x)]
    assert all(abs(v - 1.0) < 0.1 for v in measured)


def test_prepare_returns_the_selection_callback_for_sampled_methods():
    model = build_mlp(4, 4, 3, 1, method="sampled-lyapunov-orthogonal", seed=0)
    x = np.ones((8, 4), "float32")
    callbacks = prepare(model, "sampled-lyapunov-orthogonal", x, k=3, seed=0, target_norm=2.0)
    assert len(callbacks) == 1 and isinstance(callbacks[0], SampledLyapunov)
    assert callbacks[0].k == 3 and callbacks[0].target_norm == 2.0
    assert prepare(build_mlp(4, 4, 3, 1, method="he"), "he", x, k=3, seed=0) == []


def test_train_regression_and_classifier_tiny(idx_dir):
    def sample(rng, n):
        x = rng.uniform(-1, 1, size=(n, 1)).astype("float32")
        return x, (x**2).astype("float32")

    x_eval = np.linspace(-1, 1, 20, dtype="float32")[:, None]
    losses = train_regression("sampled-lyapunov-normal", sample, x_eval, x_eval**2, width=3,
                              hidden=2, steps=20, checkpoints=[5, 20], seed=0, k=2)
    assert losses.shape == (2,) and np.all(np.isfinite(losses))
    train, test = load_image_data(data_dir=str(idx_dir))
    accuracy = train_classifier("lsuv", train, test, epochs=2, hidden=1, seed=0)
    assert accuracy.shape == (2,) and np.all((0 <= accuracy) & (accuracy <= 1))


def test_median_table():
    table = median_table({"he": np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])}, [10, 20],
                         reference={"he": 3.18})
    lines = table.splitlines()
    assert lines[0] == "| method | step 10 | step 20 | paper |"
    assert lines[2] == "| He | 3.00 | 4.00 | 3.18 |"
