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

import numpy as np

from experiments.command_line import example_parser, median_table, parse_example_arguments
from experiments.tasks import SCORE
from experiments.training import run_task


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0], methods=SCORE.methods, hidden=SCORE.hidden,
                            seeds=5, length_name="steps", length=2000)
    args, methods = parse_example_arguments(parser, argv, "steps")
    print("Score of a 3-component Gaussian mixture (modes on a circle of radius 2, std 0.5); "
          f"width 2, depth {args.hidden} (+ input and output layers); {args.seeds} seeds, Adam lr "
          f"{args.learning_rate:g}, batch 64")
    variance = float(np.mean(np.sum(SCORE.evaluation_set()[1]**2, axis=1)))
    checkpoints, results = run_task(SCORE, methods, seeds=args.seeds, steps=args.steps,
                                    learning_rate=args.learning_rate, hidden=args.hidden)
    print(f"\nMedian test MSE over seeds (predicting 0 everywhere scores {variance / 2:.2f}):\n")
    print(median_table(results, checkpoints))


if __name__ == "__main__":
    main()
