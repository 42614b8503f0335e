"""The experiments' data: MNIST / Fashion-MNIST (online or IDX files), digits, MNIST-1D.

Also the trainability study's fixed splits (:func:`load_study_data`: a fixed
training subset, the test set, and the probe and held-out batches a user has at
hand), shared by ``benchmarks/trainability.py`` and ``benchmarks/sampled_fit.py``.
"""

import argparse
import gzip
import os
import struct

import keras
import numpy as np

__all__ = ["HELD_OUT", "IDX_FILES", "PROBES", "load_digits", "load_image_data",
           "load_study_data", "read_idx", "study_data_parser"]

PROBES = 256  # the study's probe batch: the first training samples
HELD_OUT = 1024  # its held-out batch: the next ones

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


def load_digits(test_fraction=0.2, seed=0):
    """scikit-learn's 8x8 digits as flat float32 in [0, 1]: a fixed train/test split."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as error:
        raise SystemExit("the digits need scikit-learn: pip install -e '.[demo]' "
                         "(or use --dataset / --data-dir)") from error
    digits = sklearn_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    order = np.random.default_rng(seed).permutation(len(x))
    test = order[:int(round(test_fraction * len(x)))]
    train = order[len(test):]
    return (x[train], y[train]), (x[test], y[test])


def load_study_data(dataset, data_dir, train_size):
    """``(train, test, probes, held_out)``: the trainability study's fixed splits.

    Args:
        dataset: ``"fashion_mnist"``, ``"mnist"`` (see :func:`load_image_data`),
            ``"mnist1d"`` (generated locally; ``pip install mnist1d``) or ``"digits"``
            (scikit-learn's bundled 8x8 digits, :func:`load_digits`).
        data_dir: a folder of IDX files, or None.
        train_size: training samples kept (a fixed permutation, seed 0).

    Returns:
        ``(x, y)`` pairs: the training subset, the test set, the probes (the
        first :data:`PROBES` training samples) and the held-out batch (the next
        :data:`HELD_OUT`): training samples, what a user has at hand.
    """
    if dataset == "mnist1d":
        import mnist1d.data

        settings = mnist1d.data.get_dataset_args()
        settings.num_samples = train_size * 5 // 4  # 80% train, 20% test
        data = mnist1d.data.make_dataset(settings)
        x_train, y_train = data["x"].astype("float32"), data["y"].astype("int32")
        x_test, y_test = data["x_test"].astype("float32"), data["y_test"].astype("int32")
    elif dataset == "digits":
        (x_train, y_train), (x_test, y_test) = load_digits()
    else:
        (x_train, y_train), (x_test, y_test) = load_image_data(dataset, data_dir)
    order = np.random.default_rng(0).permutation(len(x_train))
    x_train, y_train = x_train[order[:train_size]], y_train[order[:train_size]]
    probes = (x_train[:PROBES], y_train[:PROBES])
    held_out = (x_train[PROBES:PROBES + HELD_OUT], y_train[PROBES:PROBES + HELD_OUT])
    return (x_train, y_train), (x_test, y_test), probes, held_out


def study_data_parser(description):
    """The command line of the study's data: --dataset, --data-dir, --train-size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="fashion_mnist",
                        choices=["fashion_mnist", "mnist", "mnist1d", "digits"])
    parser.add_argument("--data-dir", default=None, help="IDX folder (offline)")
    parser.add_argument("--train-size", type=int, default=10_000)
    return parser
