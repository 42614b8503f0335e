"""Every random draw of the package: seed derivation, named streams, fresh seeds, re-seeding.

A selection or a signal report takes one integer seed; each of its random draws
uses ``derive_seed(seed, STREAM, *indices)``, so draws of different purposes
never share a seed and each is a fixed function of the seed alone (a shorter
run reproduces a prefix of a longer one). The stream numbers are part of the
package's reproducibility promise: changing one changes the weights a given
seed produces. A stream number is unique among the streams of one parent seed
only; the registry below is grouped by parent. No Keras import: an initializer
is re-seeded through its own ``with_seed`` or config.
"""

import random as python_random

import numpy as np

# Streams under one candidate's seed (keras_lyapunov._candidates): how its kernels are drawn.
LYAPUNOV_GROUPS = 0  # stacks of equal Lyapunov kernels, (candidate seed, 0, group)
SEEDED_KERNELS = 1  # other seeded initializers, one kernel at a time, (candidate seed, 1, i)
GAUSSIAN_GROUPS = 2  # stacks of equal untruncated Gaussians, (candidate seed, 2, group)

# Streams under a selection's or a signal report's seed.
UNIFORM_PROBES = 2  # default probe inputs, (seed, 2)
CANDIDATES = 3  # candidate i of a selection, (seed, 3, i)
ESTIMATES = 8  # the seed of the e-th estimate of a report, (seed, 8, e)
ENSEMBLE = 9  # re-initialization s of a report, (seed, 9, s)

# Streams under one Monte Carlo gain estimate's seed (a report's (seed, 8, e)).
ESTIMATE_DIRECTIONS = 6  # the estimate's inputs, (estimate seed, 6)
ESTIMATE_KERNELS = 7  # kernel j of that estimate, (estimate seed, 7, j)


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


def fresh_seed():
    """A new random int seed in ``[1, 10**9]``, the convention of ``keras.initializers``.

    Used where the user gave ``seed=None``: a selection or report records the
    seed it drew, so it can be repeated; an initializer keeps it, so its calls agree.
    """
    return python_random.randint(1, int(1e9))


def base_seed(seed):
    """``seed`` itself, or :func:`fresh_seed` for ``None`` (``seed`` already validated)."""
    return fresh_seed() if seed is None else seed


def kernel_group_seed(candidate_seed, gaussian, group):
    """The seed of one stack of equal kernels of a candidate (Lyapunov or Gaussian law)."""
    return derive_seed(candidate_seed, GAUSSIAN_GROUPS if gaussian else LYAPUNOV_GROUPS, group)


def takes_seed(initializer):
    """Whether the initializer has a seed, so that it can draw again (new candidates)."""
    try:
        return "seed" in initializer.get_config()
    except (AttributeError, NotImplementedError, TypeError):
        return False


def reseeded(initializer, seed):
    """A fresh initializer of the same law as ``initializer``, with another seed.

    The Lyapunov initializers are rebuilt directly (``with_seed``); any other
    seeded Keras initializer from its config (whose serialization imports
    TensorFlow on the first call, also on other backends).
    """
    with_seed = getattr(initializer, "with_seed", None)
    if with_seed is not None:
        return with_seed(seed)
    return type(initializer).from_config(dict(initializer.get_config(), seed=seed))
