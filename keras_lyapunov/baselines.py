"""The initializers Lyapunov initialization is compared with, and the one registry of names.

``untruncated_he_normal`` and ``scaled_orthogonal`` are the paper's baselines,
slope-aware and built on :func:`keras_lyapunov.theory.he_variance_factor`
(Keras's own ``he_normal`` ignores the slope and truncates the Gaussian, hence
the name; the old name ``he_normal`` still works, with a DeprecationWarning).
:data:`INITIALIZERS` names every kernel initializer the command line, the diagnostics' comparisons
and the project's experiments choose from, each with one signature
``make(slope, seed=None)``.

Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 5 (the baselines);
docs/theory.md section 3 ("Standard initializations").
"""

import dataclasses
import math
import warnings
from collections.abc import Callable

import keras

from keras_lyapunov import theory
from keras_lyapunov.initializers import (DeltaOrthogonal, LyapunovDeltaOrthogonal, LyapunovNormal,
                                         LyapunovOrthogonal)

__all__ = ["INITIALIZERS", "NamedInitializer", "scaled_orthogonal", "untruncated_he_normal"]


def untruncated_he_normal(slope, seed=None):
    """The paper's He initializer: untruncated ``N(0, 2 / ((1 + slope**2) fan_in))``.

    Args:
        slope: the leaky-ReLU negative slope after the layer (1.0 for a linear layer).
        seed: None, an int or a ``keras.random.SeedGenerator``.

    Returns:
        A ``keras.initializers.VarianceScaling``.

    Example:
        >>> keras.layers.Dense(10, kernel_initializer=untruncated_he_normal(0.01))
    """
    return keras.initializers.VarianceScaling(
        scale=theory.he_variance_factor(slope), mode="fan_in",
        distribution="untruncated_normal", seed=seed)


def he_normal(slope, seed=None):
    """Deprecated name of :func:`untruncated_he_normal` (unlike ``keras.initializers.he_normal``)."""
    warnings.warn(
        "keras_lyapunov.baselines.he_normal is renamed untruncated_he_normal: unlike "
        "keras.initializers.he_normal it is untruncated and slope-aware.",
        DeprecationWarning, stacklevel=2)
    return untruncated_he_normal(slope, seed)


def scaled_orthogonal(slope, seed=None):
    """Orthogonal with the He gain ``sqrt(2 / (1 + slope**2))`` (the paper's baseline).

    Args:
        slope: the leaky-ReLU negative slope after the layer (1.0 for a linear layer).
        seed: None, an int or a ``keras.random.SeedGenerator``.

    Returns:
        A ``keras.initializers.Orthogonal``.
    """
    return keras.initializers.Orthogonal(
        gain=math.sqrt(theory.he_variance_factor(slope)), seed=seed)


@dataclasses.dataclass(frozen=True)
class NamedInitializer:
    """A registry entry: a display label and ``make(slope, seed=None) -> initializer``.

    Calling the entry makes a fresh initializer: ``INITIALIZERS["he"](0.01, seed=0)``.
    """

    label: str
    make: Callable

    def __call__(self, slope, seed=None):
        return self.make(slope, seed)


INITIALIZERS = {
    "glorot-uniform": NamedInitializer(
        "GlorotUniform", lambda slope, seed: keras.initializers.GlorotUniform(seed=seed)),
    "keras-he-normal": NamedInitializer(
        "HeNormal (Keras)", lambda slope, seed: keras.initializers.HeNormal(seed=seed)),
    "he": NamedInitializer("He (Gaussian)", untruncated_he_normal),
    "orthogonal": NamedInitializer(
        "Orthogonal", lambda slope, seed: keras.initializers.Orthogonal(seed=seed)),
    "scaled-orthogonal": NamedInitializer("Scaled orthogonal", scaled_orthogonal),
    "lyapunov-normal": NamedInitializer(
        "Lyapunov (Gaussian)", lambda slope, seed: LyapunovNormal(slope=slope, seed=seed)),
    "lyapunov-orthogonal": NamedInitializer(
        "Lyapunov (orthogonal)",
        lambda slope, seed: LyapunovOrthogonal(slope=slope, seed=seed)),
    "delta-orthogonal": NamedInitializer(
        "Delta-orthogonal (He gain)",
        lambda slope, seed: DeltaOrthogonal(math.sqrt(theory.he_variance_factor(slope)), seed)),
    "lyapunov-delta-orthogonal": NamedInitializer(
        "Lyapunov (delta-orthogonal)",
        lambda slope, seed: LyapunovDeltaOrthogonal(slope=slope, seed=seed)),
}
