"""End to end, on seeds the trainability study never saw: does SampledLyapunov's default help?

Trains the paper's image model (``experiments.training.train_classifier``: AdamW 1e-3,
cosine decay, batch 256) on the study's fixed data (``experiments.data.load_study_data``)
for each method over ``--seeds`` seeds starting at ``--first-seed`` (default 10,000;
the study used 0-199 and 1,000,000+), and counts the seeds that train (final test
accuracy >= chance + 10 points), with 95% Wilson intervals. The sampled methods run
the library's ``SampledLyapunov`` callback exactly as a user would (k = 10; the
default score gets the first 256 training images and their labels).

Usage:
    python -m benchmarks.sampled_training --data-dir /usr/share/datasets/fashion-mnist
    python -m benchmarks.sampled_training --dataset mnist1d
Results are appended to benchmarks/results/sampled_training.md.
"""

import datetime
import os
import platform
import time

import numpy as np

from benchmarks import RESULTS
from benchmarks.trainability_analysis import wilson
from experiments.data import load_study_data, study_data_parser
from experiments.methods import METHODS
from experiments.training import train_classifier

DEFAULT_METHODS = ("lyapunov-orthogonal", "sampled-lyapunov-orthogonal",
                   "paper-sampled-lyapunov-orthogonal", "lyapunov-normal",
                   "sampled-lyapunov-normal")


def main(argv=None):
    parser = study_data_parser(__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    args = parser.parse_args(argv)
    train, test, _, _ = load_study_data(args.dataset, args.data_dir, args.train_size)
    chance = 1.0 / (int(train[1].max()) + 1)
    lines = [f"\n## {args.dataset}: {args.seeds} seeds from {args.first_seed}, "
             f"{args.epochs} epochs, k = {args.k} "
             f"({datetime.date.today().isoformat()}, {platform.machine()}, "
             f"{os.cpu_count()} cores)", "",
             f"`python -m benchmarks.sampled_training --dataset {args.dataset} "
             f"--seeds {args.seeds} --first-seed {args.first_seed}`", "",
             "| method | seeds that train [95% CI] | median final accuracy |",
             "|---|---:|---:|"]
    for method in args.methods.split(","):
        start = time.time()
        finals = np.array([
            train_classifier(method, train, test, epochs=args.epochs, seed=seed, k=args.k)[-1]
            for seed in range(args.first_seed, args.first_seed + args.seeds)])
        trained = int(np.sum(finals >= chance + 0.1))
        low, high = wilson(trained, len(finals))
        lines.append(f"| {METHODS[method].label} | {trained}/{len(finals)} "
                     f"[{100 * low:.0f}, {100 * high:.0f}%] | {100 * np.median(finals):.1f}% |")
        print(lines[-1], f"({time.time() - start:.0f} s)", flush=True)
    with open(os.path.join(RESULTS, "sampled_training.md"), "a") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
