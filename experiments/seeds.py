"""The seed streams of the project's experiments: one registry, numbers fixed for good.

Every experiment draws with ``derive_seed(seed, STREAM, *indices)`` (the library's
own derivation, :func:`keras_lyapunov._seeds.derive_seed`), so that every
recorded result in ``benchmarks/results/`` still reproduces from its seeds;
changing a number here changes those results.
"""

import random

import keras
import numpy as np

from keras_lyapunov._seeds import derive_seed

__all__ = ["DATA_ORDER", "EXPERIMENT_DATA", "EXPERIMENT_LAYERS", "LAYERWISE", "derive_seed",
           "set_random_seed"]

EXPERIMENT_LAYERS = 10  # layer i of an experiment's MLP, (seed, 10, i)
EXPERIMENT_DATA = 11  # an experiment's training data, (seed, 11)
LAYERWISE = 20  # draw j of layer i in the study's layer-wise selection, (seed, 20, i, j)
DATA_ORDER = (0, 1)  # the study's two training data orders, (seed, 0) and (seed, 1)


def set_random_seed(seed):
    """``keras.utils.set_random_seed``, without importing TensorFlow on another backend.

    Keras seeds TensorFlow whenever it is installed (for tf.data pipelines), and
    importing TensorFlow prints its C++ log lines, which no environment variable
    silences before absl starts. On JAX and torch the experiments' arrays go
    through Keras's NumPy iterator, shuffled by NumPy's global generator, and
    unseeded initializers draw their seeds from Python's: those are seeded here
    (and torch's); on TensorFlow this is Keras's own function.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)
