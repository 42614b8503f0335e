"""Learn the score of a 2-D mixture of three Gaussians with a width-2, depth-30 network.

The paper's score-learning experiment (Kogler, Schwarz, Kittle,
arXiv:2602.10949, Sec. 5). The mixture (ours, stated here):

    p(x) = (1/3) sum_i N(x; mu_i, 0.5^2 I),  mu_i = 2 (cos t_i, sin t_i),
    t_i = 0, 2 pi/3, 4 pi/3   (three modes on a circle of radius 2).

Its score is exact, grad log p(x) = sum_i r_i(x) (mu_i - x) / 0.5^2 with the
posterior responsibilities r_i(x), so the network (input Dense(2 -> 2), 30
hidden Dense(2) layers, linear output Dense(2 -> 2), LeakyReLU(0.01)) is
trained by regression onto it (explicit score matching, MSE) on fresh samples
from p, with Adam. The test MSE is taken on 2000 fixed samples from p.

    python -m examples.score                 # 5 seeds, 2000 steps
    python -m examples.score --steps 10000
"""

import math

import experiments.environment  # noqa: F401  (before Keras: backend and logging)

import numpy as np  # noqa: E402

from experiments.command_line import (  # noqa: E402
    example_parser,
    median_table,
    parse_example_arguments,
)
from experiments.training import run_regression  # noqa: E402

MEANS = 2.0 * np.array([[math.cos(t), math.sin(t)] for t in (0, 2 * math.pi / 3, 4 * math.pi / 3)])
STD = 0.5
DEFAULT_METHODS = ("he", "scaled-orthogonal", "sampled-lyapunov-normal",
                   "sampled-lyapunov-orthogonal")


def score(x):
    """Exact grad log p(x) of the mixture, shape (n, 2)."""
    differences = MEANS[None, :, :] - x[:, None, :]  # (n, 3, 2)
    logits = -np.sum(differences**2, axis=2) / (2 * STD**2)
    responsibilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    responsibilities /= responsibilities.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", responsibilities, differences) / STD**2


def sample(rng, n):
    x = MEANS[rng.integers(0, 3, size=n)] + STD * rng.standard_normal((n, 2))
    return x.astype("float32"), score(x).astype("float32")


def checkpoints_for(steps):
    return [*(s for s in (10, 100, 1000, 2000, 5000) if s < steps), steps]


def run(methods, seeds, steps, learning_rate, hidden=30, log=print):
    """dict method -> array (seeds, checkpoints) of test MSE."""
    checkpoints = checkpoints_for(steps)
    evaluation = sample(np.random.default_rng(12345), 2000)
    return checkpoints, run_regression(methods, sample, evaluation, seeds=seeds, steps=steps,
                                       checkpoints=checkpoints, hidden=hidden,
                                       learning_rate=learning_rate, log=log)


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0], methods=DEFAULT_METHODS, hidden=30,
                            seeds=5, length_name="steps", length=2000)
    args, methods = parse_example_arguments(parser, argv, "steps")
    print("Score of a 3-component Gaussian mixture (modes on a circle of radius 2, std 0.5); "
          f"width 2, depth {args.hidden} (+ input and output layers); {args.seeds} seeds, Adam lr "
          f"{args.learning_rate:g}, batch 64")
    variance = float(np.mean(np.sum(sample(np.random.default_rng(12345), 2000)[1]**2, axis=1)))
    checkpoints, results = run(methods, args.seeds, args.steps, args.learning_rate,
                               hidden=args.hidden)
    print(f"\nMedian test MSE over seeds (predicting 0 everywhere scores {variance / 2:.2f}):\n")
    print(median_table(results, checkpoints))


if __name__ == "__main__":
    main()
