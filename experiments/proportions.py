"""The share of seeds that train: its Wilson interval, and the sign test of paired seeds."""

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


def sign_test(wins, losses):
    """Two-sided sign test of paired outcomes: ``wins`` pairs one way, ``losses`` the other.

    Args:
        wins, losses: counts of the discordant pairs (ties left out), integers >= 0.

    Returns:
        The two-sided p-value of ``wins`` under ``Binomial(wins + losses, 1/2)``
        (1.0 when there is no discordant pair).

    Example:
        >>> round(sign_test(12, 3), 3)
        0.035
    """
    if wins + losses == 0:
        return 1.0
    return float(stats.binomtest(int(wins), int(wins + losses)).pvalue)
