"""Intervals for the share of seeds that train: the one Wilson interval of the harness."""

import math

from scipy import stats


def wilson(successes, n, confidence=0.95):
    """The Wilson score interval of a binomial proportion (no continuity correction).

    Args:
        successes: how many of the ``n`` trials succeeded, ``0 <= successes <= n``.
        n: trials, an integer >= 0.
        confidence: the interval's confidence level.

    Returns:
        ``(low, high)`` as fractions in [0, 1]; ``(nan, nan)`` when ``n == 0``.

    Example:
        >>> [round(bound, 4) for bound in wilson(9, 10)]
        [0.5958, 0.9821]

    Reference: Wilson (1927); Newcombe (1998); computed by
    ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``.
    """
    if n == 0:
        return math.nan, math.nan
    interval = stats.binomtest(int(successes), int(n)).proportion_ci(
        confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)
