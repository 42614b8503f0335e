"""The seed streams of the project's experiments: one registry, numbers fixed for good.

Every experiment draws with ``derive_seed(seed, STREAM, *indices)`` (the library's
own derivation, :func:`keras_lyapunov._seeds.derive_seed`), so that every
recorded result in ``benchmarks/results/`` still reproduces from its seeds;
changing a number here changes those results.
"""

from keras_lyapunov._seeds import derive_seed

__all__ = ["DATA_ORDER", "EXPERIMENT_DATA", "EXPERIMENT_LAYERS", "LAYERWISE", "derive_seed"]

EXPERIMENT_LAYERS = 10  # layer i of an experiment's MLP, (seed, 10, i)
EXPERIMENT_DATA = 11  # an experiment's training data, (seed, 11)
LAYERWISE = 20  # draw j of layer i in the study's layer-wise selection, (seed, 20, i, j)
DATA_ORDER = (0, 1)  # the study's two training data orders, (seed, 0) and (seed, 1)
