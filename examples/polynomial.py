"""Learn a degree-5 polynomial with a width-2, depth-40 leaky-ReLU network.

The paper's regression experiment (Kogler, Schwarz, Kittle, arXiv:2602.10949,
Table 3): 40 hidden Dense(2) layers with LeakyReLU(0.01), plus an input layer
Dense(1 -> 2) and a linear output layer Dense(2 -> 1), trained with Adam on the
mean squared error, for each initialization method over several seeds.

The polynomial (the paper does not print its own; ours is documented here):

    p(x) = x (x^2 - 1) (x^2 - 4) = x^5 - 5 x^3 + 4 x   on  x in [-2, 2],

five roots spread over the interval, values in [-3.63, 3.63], variance 3.69:
a network stuck at a constant has MSE about 3.7, the level of the paper's
Glorot (3.34) and He (3.18) rows. Training inputs are fresh uniform samples
each step (batch 64); the test MSE is taken on 1000 evenly spaced points.

    python -m examples.polynomial                  # 5 seeds, 2000 steps, all methods
    python -m examples.polynomial --steps 10000    # the paper's length
    python -m examples.polynomial --plot loss.png  # loss curves (needs matplotlib)
"""


import experiments.environment  # noqa: F401  (before Keras: backend and logging)

import numpy as np  # noqa: E402

from experiments.command_line import (  # noqa: E402
    example_parser,
    median_table,
    parse_example_arguments,
)
from experiments.methods import METHODS  # noqa: E402
from experiments.training import run_regression  # noqa: E402

PAPER_STEP_10000 = {
    "glorot": 3.34, "he": 3.18, "scaled-orthogonal": 0.60, "lyapunov-normal": 0.63,
    "lyapunov-orthogonal": 0.35, "sampled-lyapunov-normal": 0.22,
    "sampled-lyapunov-orthogonal": 0.10,
}  # fmt: skip
PAPER_METHODS = tuple(PAPER_STEP_10000)
INTERVAL = (-2.0, 2.0)


def polynomial(x):
    return x * (x**2 - 1.0) * (x**2 - 4.0)


def sample(rng, n):
    x = rng.uniform(*INTERVAL, size=(n, 1)).astype("float32")
    return x, polynomial(x).astype("float32")


def evaluation_set():
    x = np.linspace(*INTERVAL, 1000, dtype="float32")[:, None]
    return x, polynomial(x)


def checkpoints_for(steps):
    marks = [s for s in (10, 100, 1000, 2000, 5000, 10000) if s < steps]
    return [*marks, steps]


def run(methods, seeds, steps, learning_rate, hidden=40, log=print):
    """dict method -> array (seeds, checkpoints) of test MSE."""
    checkpoints = checkpoints_for(steps)
    return checkpoints, run_regression(methods, sample, evaluation_set(), seeds=seeds,
                                       steps=steps, checkpoints=checkpoints, hidden=hidden,
                                       learning_rate=learning_rate, log=log)


def plot(checkpoints, results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for method, values in results.items():
        ax.plot(checkpoints, np.median(values, axis=0), marker="o", label=METHODS[method].label)
    ax.set(xscale="log", yscale="log", xlabel="training step", ylabel="median test MSE",
           title="Degree-5 polynomial p(x) = x^5 - 5x^3 + 4x, width 2")
    ax.legend(fontsize="small")
    figure.savefig(path, dpi=120)


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0], methods=PAPER_METHODS, hidden=40, seeds=5,
                            length_name="steps", length=2000)
    parser.add_argument("--plot", metavar="PATH", help="write the loss curves there")
    args, methods = parse_example_arguments(parser, argv, "steps")
    print(f"p(x) = x^5 - 5x^3 + 4x on [-2, 2]; width 2, depth {args.hidden} (+ input and output "
          "layers), "
          f"slope 0.01; {args.seeds} seeds, Adam lr {args.learning_rate:g}, batch 64")
    checkpoints, results = run(methods, args.seeds, args.steps, args.learning_rate,
                               hidden=args.hidden)
    print("\nMedian test MSE over seeds (the paper's column is at step 10000):\n")
    print(median_table(results, checkpoints, reference=PAPER_STEP_10000))
    if args.plot:
        plot(checkpoints, results, args.plot)
        print(f"\nloss curves written to {args.plot}")


if __name__ == "__main__":
    main()
