"""The one timer of the project's benchmarks."""

import time

__all__ = ["timed"]


def timed(function):
    """Seconds one call of ``function()`` takes (``time.perf_counter``, wall clock)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
