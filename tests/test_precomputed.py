"""The shipped table of common slopes agrees with the exact solver."""

import numpy as np
import pytest

from keras_lyapunov import theory
from scripts import build_precomputed_table


def test_table_covers_the_common_slopes():
    for slope in (0.01, 0.1, 0.2, 0.3):
        assert slope in theory.PRECOMPUTED_SLOPES
        assert slope * slope in theory._PRECOMPUTED


def test_every_table_entry_matches_the_solver():
    with np.load(theory.PRECOMPUTED_TABLE_PATH) as data:
        slopes, mean, variance = data["slopes"], data["mean"], data["variance"]
    assert mean.shape == variance.shape == (len(slopes), mean.shape[1])
    assert mean.shape[1] >= 1024
    for i, slope in enumerate(slopes):
        for width in range(1, mean.shape[1] + 1):
            expected = theory.sphere_log_moments_by_quadrature(width, float(slope) ** 2)
            assert abs(mean[i, width - 1] - expected[0]) <= 1e-13, (slope, width)
            assert abs(variance[i, width - 1] - expected[1]) <= 1e-13, (slope, width)


# What the table promises: the quadrature's accuracy, 1e-13 (absolute, and relative for
# entries above 1), as test_every_table_entry_matches_the_solver checks. A table rebuilt on
# another CPU or with another NumPy/SciPy build differs from the shipped one in the last
# bits (SIMD paths, library versions), so it is compared to that accuracy, never bit for bit.
TABLE_ACCURACY = 1e-13


def test_table_is_reproducible_by_its_script():
    # The script writes the numbers the package ships, to the table's accuracy.
    slopes, mean, variance = build_precomputed_table.build(slopes=(0.01, 0.3), max_width=64)
    with np.load(theory.PRECOMPUTED_TABLE_PATH) as shipped:
        for i, slope in enumerate(slopes):
            j = list(shipped["slopes"]).index(slope)
            np.testing.assert_allclose(mean[i], shipped["mean"][j, :64],
                                       rtol=TABLE_ACCURACY, atol=TABLE_ACCURACY)
            np.testing.assert_allclose(variance[i], shipped["variance"][j, :64],
                                       rtol=TABLE_ACCURACY, atol=TABLE_ACCURACY)


def test_common_slopes_integrate_nothing(no_quadrature):
    for slope in (0.01, -0.01, 0.1, 0.2, 0.3):
        for distribution in theory.DISTRIBUTIONS:
            theory.critical_scale(np.arange(1, 2049), slope, distribution=distribution,
                                  fan_in=784)
            theory.critical_scale(10, slope, distribution=distribution)
    with pytest.raises(AssertionError, match="quadrature ran"):
        theory.critical_scale(10, 0.0123)  # not precomputed: the solver runs
