"""Builds keras_lyapunov/precomputed_moments.npz, the table of common slopes.

For each slope in SLOPES and every width 1..MAX_WIDTH it stores E Z and Var Z
(Z = log ||rho(theta)||**2, theta uniform on the sphere; docs/theory.md section 2),
computed by the same exact quadrature that serves every other slope. With the
table, building a model with these slopes integrates nothing.
tests/test_precomputed.py recomputes every entry and compares.

Usage:
    python -m scripts.build_precomputed_table
"""

import os

import numpy as np

from keras_lyapunov import theory

# 0.01: the paper and our default; 0.2: keras.activations.leaky_relu's default;
# 0.3: keras.layers.LeakyReLU's default; the rest are common choices.
SLOPES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
MAX_WIDTH = 2048


def build(slopes=SLOPES, max_width=MAX_WIDTH):
    """Returns the table arrays: slopes (k,), mean and variance (k, max_width)."""
    mean = np.empty((len(slopes), max_width))
    variance = np.empty((len(slopes), max_width))
    for i, slope in enumerate(slopes):
        for width in range(1, max_width + 1):
            mean[i, width - 1], variance[i, width - 1] = (
                theory.sphere_log_moments_by_quadrature(width, slope * slope)
            )
    return np.asarray(slopes, dtype=np.float64), mean, variance


def main():
    slopes, mean, variance = build()
    np.savez(theory.PRECOMPUTED_TABLE_PATH, slopes=slopes, mean=mean, variance=variance)
    size = os.path.getsize(theory.PRECOMPUTED_TABLE_PATH)
    print(f"wrote {theory.PRECOMPUTED_TABLE_PATH} ({size} bytes): "
          f"{len(slopes)} slopes x {mean.shape[1]} widths")


if __name__ == "__main__":
    main()
