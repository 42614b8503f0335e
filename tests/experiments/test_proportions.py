"""The harness's Wilson interval against the published values of Newcombe (1998), Table I."""

import math

import pytest

from experiments.proportions import sign_test, wilson


@pytest.mark.parametrize("successes, n, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe_1998(successes, n, low, high):
    assert wilson(successes, n) == pytest.approx((low, high), abs=5e-5)


def test_wilson_bounds_are_proportions_and_empty_samples_have_none():
    assert wilson(20, 20)[1] == 1.0 and wilson(0, 20)[0] == 0.0
    assert all(math.isnan(bound) for bound in wilson(0, 0))


def test_sign_test_is_the_two_sided_binomial_tail():
    # 12 against 3 of 15: 2 * P(X <= 3), X ~ Binomial(15, 1/2) = 2 * 576 / 32768
    assert sign_test(12, 3) == pytest.approx(2 * 576 / 2**15, rel=1e-12)
    assert sign_test(3, 12) == sign_test(12, 3) and sign_test(0, 0) == 1.0
