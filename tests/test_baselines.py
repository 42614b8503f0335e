"""keras_lyapunov.baselines: He, scaled orthogonal and the registry of named initializers."""

import math

import keras
import numpy as np
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, theory
from keras_lyapunov.baselines import INITIALIZERS, he_normal, scaled_orthogonal, untruncated_he_normal


def test_untruncated_he_normal_is_the_slope_aware_he_law():
    slope, shape = 0.1, (50, 40)
    init = untruncated_he_normal(slope, seed=keras.random.SeedGenerator(0))
    draws = np.concatenate([keras.ops.convert_to_numpy(init(shape)).ravel() for _ in range(10)])
    sigma = theory.he_scale(50, slope)
    assert sigma == pytest.approx(math.sqrt(2 / (1 + slope**2) / 50), rel=1e-15)
    assert abs(draws.std() - sigma) < 4 * sigma / math.sqrt(2 * draws.size)
    # Untruncated: about 4.55% of a Gaussian lies beyond 2 sigma (truncated: none).
    beyond, p = np.mean(np.abs(draws) > 2 * sigma), 0.0455
    assert abs(beyond - p) < 4 * math.sqrt(p * (1 - p) / draws.size)


def test_scaled_orthogonal_has_the_he_gain():
    slope = 0.3
    w = keras.ops.convert_to_numpy(scaled_orthogonal(slope, seed=1)((6, 6))).astype("float64")
    gain = theory.he_scale(6, slope, distribution="orthogonal")
    np.testing.assert_allclose(w.T @ w, gain**2 * np.eye(6), atol=1e-5)  # float32 draws
    assert untruncated_he_normal(1.0).scale == 1.0 and scaled_orthogonal(1.0).gain == 1.0


def test_registry_entries_make_fresh_seeded_initializers():
    expected = {"lyapunov-normal": LyapunovNormal, "lyapunov-orthogonal": LyapunovOrthogonal,
                "he": keras.initializers.VarianceScaling,
                "scaled-orthogonal": keras.initializers.Orthogonal,
                "glorot-uniform": keras.initializers.GlorotUniform}
    for name, cls in expected.items():
        entry = INITIALIZERS[name]
        first, second = entry(0.01, seed=3), entry(0.01, seed=3)
        assert isinstance(first, cls) and first is not second and entry.label
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(first((4, 4))),
                                      keras.ops.convert_to_numpy(second((4, 4))))
    assert INITIALIZERS["lyapunov-orthogonal"](0.2).slope == 0.2
    assert len({entry.label for entry in INITIALIZERS.values()}) == len(INITIALIZERS)


def test_the_old_name_he_normal_still_works_and_says_it_is_deprecated():
    with pytest.warns(DeprecationWarning, match="untruncated_he_normal"):
        old = he_normal(0.1, seed=3)
    assert old.get_config() == untruncated_he_normal(0.1, seed=3).get_config()
