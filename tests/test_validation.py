"""keras_lyapunov._validation: every check names the argument and the valid range."""

import numpy as np
import pytest

from keras_lyapunov import _seeds, _validation


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None, np.bool_(True)])
def test_integer_rejects(value):
    with pytest.raises(ValueError, match=r"`n` must be an integer >= 1\. Received: n="):
        _validation.integer(value, "n")


def test_integer_accepts_numpy_integers_and_minimum():
    assert _validation.integer(np.int32(5), "n") == 5 and type(
        _validation.integer(np.int32(5), "n")) is int
    assert _validation.integer(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match=">= 2"):
        _validation.integer(1, "samples", minimum=2)


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan"), True, "1"])
def test_positive_finite_rejects(value):
    with pytest.raises(ValueError, match="`t`"):
        _validation.positive_finite(value, "t")


def test_interval_open_unit_one_of_and_seeds():
    assert _validation.interval([0, 2], "r") == (0.0, 2.0)
    for bad in [(1, 0), (0, float("inf")), (0,), "ab", None]:
        with pytest.raises(ValueError, match="`r`"):
            _validation.interval(bad, "r")
    assert _validation.open_unit(0.5, "p") == 0.5
    for bad in [0.0, 1.0, True]:
        with pytest.raises(ValueError, match=r"`p` must be a number in \(0, 1\)"):
            _validation.open_unit(bad, "p")
    assert _validation.one_of(np.int64(1), "verbose", (0, 1, 2)) == 1
    for bad in [True, 3, [1], "1"]:
        with pytest.raises(ValueError, match="`verbose` must be one of"):
            _validation.one_of(bad, "verbose", (0, 1, 2))
    assert _validation.optional_seed(None) is None and _validation.optional_seed(7) == 7
    seeds = {_seeds.fresh_seed() for _ in range(20)}  # Keras's convention, [1, 1e9]
    assert len(seeds) > 1 and all(1 <= seed <= 10**9 for seed in seeds)
    assert _seeds.base_seed(7) == 7 and 1 <= _seeds.base_seed(None) <= 10**9
    for bad in [-1, 1.5, True]:
        with pytest.raises(ValueError, match="`seed`"):
            _validation.optional_seed(bad)
