"""Solver and initializer timings, measured side by side in one run.

Prints (1) the cached and cold call time of keras_lyapunov.theory, and (2) the
time of LyapunovNormal / LyapunovOrthogonal against keras.initializers
RandomNormal / Orthogonal drawing the same shapes, interleaved round by round
so machine noise hits both alike; the ratio is the median of per-round ratios.
Goals (issue 2): cached call <= 5 us, cold call <= 1 ms for width <= 1e7,
initializer time <= 1.05x Keras's.

Usage:
    KERAS_BACKEND=tensorflow python -m benchmarks.solver [--quick]
"""

import argparse
import os
import platform
import statistics
import warnings

import keras
import numpy as np

from experiments.timing import timed
from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, theory


def cached_call_us(repeats):
    cases = {
        "critical_scale(10, 0.01)": lambda: theory.critical_scale(10, 0.01),
        "critical_scale(10, 0.01, orthogonal, fan_in=784)": lambda: theory.critical_scale(
            10, 0.01, distribution="orthogonal", fan_in=784),
        "log_gain_std(1000, 0.123)": lambda: theory.log_gain_std(1000, 0.123),
        "lyapunov_exponent(10, 0.01, scale=0.5)": lambda: theory.lyapunov_exponent(
            10, 0.01, scale=0.5),
    }
    results = {}
    for name, fn in cases.items():
        fn()
        results[name] = 1e6 * statistics.median(timed(fn) for _ in range(repeats))
    return results


def cold_call_us(count, seed=0):
    """First call for `count` distinct argument tuples, none precomputed."""
    rng = np.random.default_rng(seed)
    times = []
    for i in range(count):
        slope = float(rng.choice([-1, 1]) * 10 ** rng.uniform(-4, 1))
        width = int(10 ** rng.uniform(0, 7))
        fan_in = int(10 ** rng.uniform(0, 7))
        distribution = theory.DISTRIBUTIONS[i % 2]
        times.append(timed(lambda: theory.critical_scale(
            width, slope, distribution=distribution, fan_in=fan_in)))
    extremes = []
    for slope in (1e-150, 1e150, 0.999999):
        for width in (1, 2, 10**7):
            extremes.append(timed(lambda: theory.critical_scale(width, slope)))
    times = np.array(times) * 1e6
    return {
        "median": float(np.median(times)),
        "p99": float(np.percentile(times, 99)),
        "max": float(times.max()),
        "max_extreme_slopes": 1e6 * max(extremes),
    }


def sync(x):
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    return x


def initializer_ratio(ours, keras_init, shape, rounds, calls):
    """Median over rounds of time(ours) / time(keras), `calls` draws per round.

    Both use an int seed, so repeated calls repeat values (intended here).
    """
    warnings.filterwarnings("ignore", message=".*was called again.*")
    for init in (ours, keras_init):
        sync(init(shape))  # warm up
    ratios, ours_t, keras_t = [], [], []
    for r in range(rounds):
        order = (ours, keras_init) if r % 2 == 0 else (keras_init, ours)
        elapsed = {}
        for init in order:
            elapsed[id(init)] = timed(
                lambda init=init: [sync(init(shape)) for _ in range(calls)]) / calls
        ours_t.append(elapsed[id(ours)])
        keras_t.append(elapsed[id(keras_init)])
        ratios.append(elapsed[id(ours)] / elapsed[id(keras_init)])
    return (statistics.median(ours_t) * 1e6, statistics.median(keras_t) * 1e6,
            statistics.median(ratios))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    quick = args.quick

    print(f"# keras_lyapunov solver benchmark: backend={keras.backend.backend()}, "
          f"keras {keras.__version__}, numpy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, {platform.python_version()}")
    print("\n## Solver")
    for name, us in cached_call_us(2000 if quick else 20000).items():
        print(f"cached   {name:52s} median {us:7.2f} us   (goal <= 5 us)")
    cold = cold_call_us(100 if quick else 1000)
    print(f"cold     random slope/width<=1e7/fan_in<=1e7 (not precomputed): median "
          f"{cold['median']:.0f} us, p99 {cold['p99']:.0f} us, max {cold['max']:.0f} us "
          f"(goal <= 1000 us)")
    print(f"cold     extreme slopes 1e-150, 1e150, 0.999999 x widths 1, 2, 1e7: max "
          f"{cold['max_extreme_slopes']:.0f} us")

    print("\n## Initializers against Keras (same shape, same scale, int seed)")
    print("| initializer | shape | ours (us) | keras (us) | median ratio |")
    print("|---|---|---:|---:|---:|")
    for shape, rounds, calls in (((10, 10), 15 if quick else 61, 50 if quick else 200),
                                 ((1024, 1024), 5 if quick else 15, 2 if quick else 4)):
        sigma = theory.critical_scale(shape[1], 0.01, fan_in=shape[0])
        eta = theory.critical_scale(shape[1], 0.01, distribution="orthogonal", fan_in=shape[0])
        pairs = (
            ("LyapunovNormal vs RandomNormal", LyapunovNormal(0.01, seed=1),
             keras.initializers.RandomNormal(stddev=sigma, seed=1)),
            ("LyapunovOrthogonal vs Orthogonal", LyapunovOrthogonal(0.01, seed=1),
             keras.initializers.Orthogonal(gain=eta, seed=1)),
        )
        for name, ours, reference in pairs:
            o, k, ratio = initializer_ratio(ours, reference, shape, rounds, calls)
            print(f"| {name} | {shape[0]}x{shape[1]} | {o:.1f} | {k:.1f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
