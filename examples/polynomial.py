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


import numpy as np

from experiments.command_line import example_parser, median_table, parse_example_arguments
from experiments.methods import METHODS
from experiments.tasks import POLYNOMIAL
from experiments.training import run_task


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
    parser = example_parser(__doc__.splitlines()[0], methods=POLYNOMIAL.methods,
                            hidden=POLYNOMIAL.hidden, seeds=5,
                            length_name="steps", length=2000)
    parser.add_argument("--plot", metavar="PATH", help="write the loss curves there")
    args, methods = parse_example_arguments(parser, argv, "steps")
    print(f"p(x) = x^5 - 5x^3 + 4x on [-2, 2]; width 2, depth {args.hidden} (+ input and output "
          "layers), "
          f"slope 0.01; {args.seeds} seeds, Adam lr {args.learning_rate:g}, batch 64")
    checkpoints, results = run_task(POLYNOMIAL, methods, seeds=args.seeds, steps=args.steps,
                                    learning_rate=args.learning_rate, hidden=args.hidden)
    print("\nMedian test MSE over seeds (the paper's column is at step 10000):\n")
    print(median_table(results, checkpoints, reference=POLYNOMIAL.paper))
    if args.plot:
        plot(checkpoints, results, args.plot)
        print(f"\nloss curves written to {args.plot}")


if __name__ == "__main__":
    main()
