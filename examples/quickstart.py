"""Quickstart: a 100-layer, width-10 leaky-ReLU MLP with He vs Lyapunov init.

Builds the same Dense/LeakyReLU(0.01) stack with three kernel initializers and
prints the log output-norm gain log(||N(x)|| / ||x||) averaged over inputs and
a few random networks, beside the exact prediction depth * lambda.

    python -m examples.quickstart [--depth 100] [--networks 5]
"""

import argparse
import math

import keras
import numpy as np

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, standard_mlp, theory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--slope", type=float, default=0.01)
    parser.add_argument("--networks", type=int, default=5)
    args = parser.parse_args(argv)
    d, a, depth = args.width, args.slope, args.depth
    sigma_he = theory.he_scale(d, a)
    # Every layer's initializer shares one SeedGenerator per network: an int seed
    # would give all layers the same kernel (Keras 3 seed semantics).
    methods = {
        "He (Gaussian)": (lambda g: keras.initializers.RandomNormal(stddev=sigma_he, seed=g),
                          depth * theory.lyapunov_exponent(d, a, scale=sigma_he)),
        "LyapunovNormal": (lambda g: LyapunovNormal(slope=a, seed=g), 0.0),
        "LyapunovOrthogonal": (lambda g: LyapunovOrthogonal(slope=a, seed=g), 0.0),
    }
    x = np.random.default_rng(0).standard_normal((256, d)).astype("float32")
    print(f"depth {depth}, width {d}, slope {a}: log(||N(x)|| / ||x||), "
          f"{args.networks} networks x 256 inputs")
    print(f"{'initializer':20s} {'measured':>9s} {'predicted':>10s} {'+-1 std (CLT)':>14s}")
    for name, (make, predicted) in methods.items():
        gains = []
        for seed in range(args.networks):
            generator = keras.random.SeedGenerator(seed)
            model = standard_mlp(d, depth, a, lambda slope: make(generator))
            y = keras.ops.convert_to_numpy(model(x))
            gains.append(np.mean(np.log(np.linalg.norm(y, axis=1) / np.linalg.norm(x, axis=1))))
        distribution = "orthogonal" if "Orthogonal" in name else "normal"
        spread = math.sqrt(depth) * theory.log_gain_std(d, a, distribution=distribution)
        print(f"{name:20s} {np.mean(gains):9.2f} {predicted:10.2f} {spread:14.2f}")


if __name__ == "__main__":
    main()
