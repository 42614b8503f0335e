"""Fixtures of the experiments' tests: a tiny IDX image dataset."""

import gzip
import struct

import numpy as np
import pytest


def write_idx_file(path, array):
    with gzip.open(path, "wb") as handle:
        handle.write(struct.pack(">HBB", 0, 8, array.ndim))
        handle.write(struct.pack(f">{array.ndim}I", *array.shape))
        handle.write(array.astype(np.uint8).tobytes())


@pytest.fixture
def write_idx():
    """``write_idx(path, array)`` writes a gzip IDX file of unsigned bytes."""
    return write_idx_file


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    write_idx_file(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (96, 28, 28)))
    write_idx_file(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 96))
    write_idx_file(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (32, 28, 28)))
    write_idx_file(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 32))
    return tmp_path
