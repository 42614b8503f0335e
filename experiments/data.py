"""MNIST and Fashion-MNIST: from keras.datasets online, from IDX files offline."""

import gzip
import os
import struct

import keras
import numpy as np

__all__ = ["IDX_FILES", "load_image_data", "read_idx"]

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    """Reads an IDX file (optionally gzip-compressed) into a NumPy array.

    Args:
        path: file path; ``.gz`` files are decompressed.

    Returns:
        A uint8 array of the file's shape.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file.")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(data_dir, stem):
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"no {stem}[.gz] in --data-dir {data_dir!r}")


def load_image_data(dataset="fashion_mnist", data_dir=None):
    """MNIST or Fashion-MNIST as flat float32 images in [0, 1] and int labels.

    Args:
        dataset: ``"mnist"`` or ``"fashion_mnist"`` (from keras.datasets, online).
        data_dir: a folder of IDX files (``train-images-idx3-ubyte.gz``, ...)
            to read instead, e.g. /usr/share/datasets/fashion-mnist from
            Debian's dataset-fashion-mnist package.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    if data_dir is None:
        loader = {"mnist": keras.datasets.mnist,
                  "fashion_mnist": keras.datasets.fashion_mnist}[dataset]
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    else:
        x_train, y_train = (read_idx(_find(data_dir, f)) for f in IDX_FILES["train"])
        x_test, y_test = (read_idx(_find(data_dir, f)) for f in IDX_FILES["test"])

    def flat(images):
        return (images.reshape(len(images), -1) / 255.0).astype("float32")

    return (flat(x_train), y_train.astype("int32")), (flat(x_test), y_test.astype("int32"))
