"""Seed derivation with named streams: every random draw of the package, in one place.

A selection, a signal report or an experiment takes one integer seed; each of
its random draws uses ``derive_seed(seed, STREAM, *indices)``, so draws of
different purposes never share a seed and each is a fixed function of the seed
alone (a shorter run reproduces a prefix of a longer one). The stream numbers
are part of the package's reproducibility promise: changing one changes the
weights a given seed produces.
"""

import numpy as np

# Streams under one candidate's seed (keras_lyapunov._candidates): how its kernels are drawn.
LYAPUNOV_GROUPS = 0  # stacks of equal Lyapunov kernels, (candidate seed, 0, group)
SEEDED_KERNELS = 1  # other seeded initializers, one kernel at a time, (candidate seed, 1, i)
GAUSSIAN_GROUPS = 2  # stacks of equal untruncated Gaussians, (candidate seed, 2, group)

# Streams under a selection's or a signal report's seed.
UNIFORM_PROBES = 2  # default probe inputs, (seed, 2)
CANDIDATES = 3  # candidate i of a selection, (seed, 3, i)
ESTIMATE_DIRECTIONS = 6  # inputs of a Monte Carlo gain estimate, (estimate seed, 6)
ESTIMATE_KERNELS = 7  # kernel j of that estimate, (estimate seed, 7, j)
ESTIMATES = 8  # the seed of the e-th estimate of a report, (seed, 8, e)
ENSEMBLE = 9  # re-initialization s of a report, (seed, 9, s)

# Streams of the project's experiments (experiments/, beside the package).
EXPERIMENT_LAYERS = 10  # layer i of an experiment's MLP, (seed, 10, i)
EXPERIMENT_DATA = 11  # an experiment's training data, (seed, 11)


def derive_seed(*entropy):
    """A 31-bit int seed, a deterministic function of the integers given.

    Args:
        *entropy: non-negative integers, e.g. ``(seed, CANDIDATES, i)``.

    Returns:
        An int in ``[0, 2**31)``, usable as a Keras or NumPy seed on every backend.

    Example:
        >>> derive_seed(0, CANDIDATES, 1) == derive_seed(0, CANDIDATES, 1)
        True
    """
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0] >> 1)
