"""experiments.data: IDX files and the image datasets."""

import numpy as np
import pytest

from experiments.data import load_image_data, read_idx


def test_read_idx_round_trip(tmp_path, write_idx):
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


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_cnn_study_loads_channels_last_inputs(dataset):
    if dataset == "mnist1d":
        pytest.importorskip("mnist1d")
    from benchmarks.cnn_study import load

    (x_train, y_train), (x_test, y_test), shape = load(dataset)
    assert x_train.shape[1:] == shape and x_test.shape[1:] == shape and shape[-1] == 1
    assert len(x_train) == len(y_train) and len(x_test) == len(y_test)
    assert set(np.unique(y_train)) == set(range(10))
