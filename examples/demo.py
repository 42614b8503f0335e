"""Why Lyapunov initialization: a deep, narrow leaky-ReLU MLP on real digits, offline.

Trains the same deep, narrow network (Dense layers of width 10 with
LeakyReLU(0.01)) from five initializations over a few seeds and prints, per
method, how many seeds train (test accuracy at least 10 points above chance)
and the median test accuracy, beside the signal through depth at
initialization, predicted by the theory and measured. It writes one figure:
test accuracy per epoch, and log ||h_l|| - log ||x|| through depth.

The methods: He (Keras users' usual choice for ReLU-like nets, here the
slope-aware untruncated He of the paper), LyapunovOrthogonal, LyapunovNormal,
SampledLyapunov (best of k candidates, the library's default score) and LSUV
(Mishkin & Matas 2016, what a practitioner would try instead).

Data: scikit-learn's bundled 8x8 digits by default (offline, 1,797 images);
``--dataset mnist`` or ``fashion_mnist`` from keras.datasets when online, or
``--data-dir`` with IDX files (e.g. Debian's dataset-fashion-mnist package).

    python -m examples.demo                                  # about a minute on 2 CPU cores
    python -m examples.demo --seeds 10 --depth 100 --epochs 60
    python -m examples.demo --data-dir /usr/share/datasets/fashion-mnist --train-size 10000
"""

import argparse
import importlib.util
import math
import os
import time
import warnings

import numpy as np

from experiments.command_line import parse_methods
from experiments.data import load_digits, load_image_data
from experiments.methods import METHODS, build_mlp, default_k, initialize
from experiments.training import ClassifierTrainer, compile_classifier
from keras_lyapunov import signal_report
from keras_lyapunov.sampling import DEFAULT_BUDGET_SHARE

DEFAULT_METHODS = ("he", "lyapunov-orthogonal", "lyapunov-normal",
                   "sampled-lyapunov-orthogonal", "lsuv")
SIGNAL_METHODS = ("he", "lyapunov-normal", "lyapunov-orthogonal")  # exactly predicted
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FIGURE = os.path.join(os.path.dirname(HERE), "benchmarks", "results", "demo.png")


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo", description=__doc__.split("\n\n")[0],
        epilog="Defaults: the configuration measured in README.md (about a minute on "
               "2 CPU cores with JAX).")
    parser.add_argument("--dataset", choices=("digits", "mnist", "fashion_mnist"),
                        default="digits", help="digits: scikit-learn's 8x8 digits, offline "
                        "(default); mnist / fashion_mnist: keras.datasets (online)")
    parser.add_argument("--data-dir", help="read MNIST-style IDX(.gz) files from this folder "
                        "instead (e.g. /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--train-size", type=int, help="use only the first N training images")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per method (default 5)")
    parser.add_argument("--depth", type=int, default=50,
                        help="Dense layers in all (default 50: 48 hidden + input + output)")
    parser.add_argument("--width", type=int, default=10, help="hidden width (default 10)")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="peak AdamW learning rate, cosine decay (default 1e-3)")
    parser.add_argument("--k", type=int, default=None,
                        help="SampledLyapunov candidates (default ceil(sqrt(depth)))")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated, from: {', '.join(METHODS)}")
    parser.add_argument("--cnn", action="store_true",
                        help="run the deep narrow CNN study instead (benchmarks/cnn_study.py "
                             "on the digits as 8x8 images: 32 convolutions of 8 channels, "
                             "--seeds seeds of each of its methods, 30 epochs; a few minutes)")
    parser.add_argument("--figure", default=DEFAULT_FIGURE,
                        help="PNG to write (default benchmarks/results/demo.png; 'none' to skip)")
    args = parser.parse_args(argv)
    methods = parse_methods(parser, args.methods)
    for name in ("seeds", "depth", "width", "epochs", "batch_size"):
        if getattr(args, name) < (3 if name == "depth" else 1):
            parser.error(f"--{name.replace('_', '-')} must be an integer >= "
                         f"{3 if name == 'depth' else 1}")
    if args.train_size is not None and args.train_size < 1:
        parser.error("--train-size must be an integer >= 1")
    if not args.learning_rate > 0:
        parser.error("--learning-rate must be > 0")
    if args.figure != "none":
        folder = os.path.dirname(os.path.abspath(args.figure))
        if not os.path.isdir(folder):
            parser.error(f"--figure: the folder {folder} does not exist")
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--figure needs matplotlib: pip install -e '.[demo]' (or --figure none)")
    return args, methods


def signal_at_initialization(method, x, depth, width, classes, seed):
    """Predicted and measured log ||h_l|| - log ||x|| of the method's network, per layer."""
    model = build_mlp(x.shape[1], width, depth - 2, classes, method=method, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the linear output layer's slope note
        return signal_report(model, x[:32], samples=100, num_probes=32, seed=seed)


def cnn_demo(seeds):
    """The CNN study on the digits, printed (``--cnn``)."""
    from experiments.cnn import CNN_DEFAULT_METHODS, run_cnn_study
    from experiments.proportions import wilson
    from experiments.methods import CNN_METHODS

    (xt, yt), (xe, ye) = load_digits()
    train, test = (xt.reshape(-1, 8, 8, 1), yt), (xe.reshape(-1, 8, 8, 1), ye)
    print(f"scikit-learn digits as 8x8 images: {len(xt)} training / {len(xe)} test; a CNN of "
          "32 3x3 convolutions of 8 channels, LeakyReLU(0.01), no normalization or skips; "
          f"30 epochs; {seeds} seeds per method.\n")
    study = run_cnn_study(train, test, (8, 8, 1), depth=32, width=8, seeds=seeds, epochs=30,
                          methods=CNN_DEFAULT_METHODS)
    print("\n| method | seeds that train | 95% Wilson | median test accuracy | exponent per layer |")
    print("|---|---:|---:|---:|---:|")
    for method, runs in study["accuracy"].items():
        final = runs[:, -1]
        trained = int(np.sum(final >= 20.0))
        low, high = wilson(trained, len(final))
        estimate = study["signal"].get(method)
        exponent = "-" if estimate is None else f"{estimate.exponent:+.3f}"
        print(f"| {CNN_METHODS[method].label} | {trained}/{len(final)} "
              f"| [{100 * low:.0f}, {100 * high:.0f}]% "
              f"| {np.median(final):.1f}% | {exponent} |")
    print(f"done in {study['seconds']:.0f} s")


def main(argv=None):
    args, methods = parse_arguments(argv)
    if args.cnn:
        cnn_demo(args.seeds)
        return
    start = time.perf_counter()
    if args.data_dir or args.dataset != "digits":
        train, test = load_image_data(args.dataset if args.dataset != "digits" else "mnist",
                                      args.data_dir)
        name = args.data_dir or args.dataset
    else:
        train, test = load_digits()
        name = "scikit-learn digits (8x8)"
    if args.train_size:
        train = (train[0][:args.train_size], train[1][:args.train_size])
    classes = int(max(train[1].max(), test[1].max())) + 1
    chance = 100.0 / classes
    print(f"{name}: {len(train[0])} training / {len(test[0])} test images; an MLP of "
          f"{args.depth} Dense layers of width {args.width} with LeakyReLU(0.01); AdamW "
          f"lr {args.learning_rate:g}, cosine decay, batch {args.batch_size}, "
          f"{args.epochs} epochs; {args.seeds} seeds per method.\n")

    print("Signal through depth at initialization, log ||h_L|| - log ||x|| after the last "
          "layer\n(theory: exact mean +- std; measured: 100 networks on 32 test images):")
    reports = {}
    for method in SIGNAL_METHODS:
        reports[method] = signal_at_initialization(method, test[0], args.depth, args.width,
                                                   classes, seed=0)
        last = reports[method].rows[-1]
        print(f"  {METHODS[method].label:12s} predicted {last.predicted_mean:+7.1f} "
              f"+- {last.predicted_std:4.1f}   measured {last.measured_mean:+7.1f} "
              f"+- {last.measured_std:4.1f}")

    print(f"\nTraining (a seed trains when its final test accuracy is at least "
          f"{chance + 10:.0f}%, chance + 10 points):")
    accuracy = {}
    # One compiled model trains every method and seed: each run's initialization is
    # made on a fresh model (LSUV or the selection applied there) and its weights loaded.
    architecture = dict(input_dim=train[0].shape[1], width=args.width, hidden=args.depth - 2,
                        output_dim=classes)
    trainer = ClassifierTrainer(build_mlp(**architecture, method="he"), train, test,
                                epochs=args.epochs, batch_size=args.batch_size,
                                learning_rate=args.learning_rate)
    k = args.k or default_k(args.depth)
    steps = args.epochs * math.ceil(len(train[0]) / args.batch_size)
    budget = max(k, round(DEFAULT_BUDGET_SHARE * steps))  # what the callback spends in fit
    for method in methods:
        runs = []
        for seed in range(args.seeds):
            model = build_mlp(**architecture, method=method, seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                initialize(model, method, train[0][:256], train[1][:256], k=k, seed=seed,
                           budget=budget, compile_model=lambda m: compile_classifier(
                               m, steps, learning_rate=args.learning_rate))
                runs.append(100 * np.array(trainer(model.get_weights(), order_seed=seed)))
            print(f"  {METHODS[method].label:20s} seed {seed}: {runs[-1][-1]:5.1f}%   "
                  f"[{time.perf_counter() - start:5.0f} s]", flush=True)
        accuracy[method] = np.array(runs)

    print("\n| method | seeds that train | median test accuracy | min - max |")
    print("|---|---:|---:|---:|")
    for method, runs in accuracy.items():
        final = runs[:, -1]
        print(f"| {METHODS[method].label} | {int(np.sum(final >= chance + 10))}/{len(final)} | "
              f"{np.median(final):.1f}% | {final.min():.1f} - {final.max():.1f}% |")
    if args.figure != "none":
        plot(accuracy, reports, chance, args, name)
        print(f"\nfigure written to {os.path.relpath(args.figure)}")
    print(f"done in {time.perf_counter() - start:.0f} s")


def plot(accuracy, reports, chance, args, name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    colors = {"he": "tab:red", "lyapunov-orthogonal": "tab:blue",
              "lyapunov-normal": "tab:green", "sampled-lyapunov-orthogonal": "tab:purple",
              "sampled-lyapunov-normal": "tab:pink", "lsuv": "tab:orange"}
    epochs = np.arange(1, args.epochs + 1)
    for method, runs in accuracy.items():
        color = colors.get(method)
        left.plot(epochs, np.median(runs, axis=0), color=color, lw=2,
                  label=f"{METHODS[method].label} (median of {len(runs)})")
        left.fill_between(epochs, runs.min(axis=0), runs.max(axis=0), color=color, alpha=0.15)
    left.axhline(chance, color="grey", lw=0.8, ls=":", label="chance")
    left.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(0, 100),
             title=f"Training: {args.depth} layers of width {args.width}")
    left.legend(fontsize="small", loc="upper left")
    for method, report in reports.items():
        color = colors.get(method)
        depth = np.arange(len(report.rows) + 1)
        predicted = np.array([0.0] + [r.predicted_mean for r in report.rows])
        spread = np.array([0.0] + [r.predicted_std for r in report.rows])
        measured = np.array([0.0] + [r.measured_mean for r in report.rows])
        right.plot(depth, predicted, color=color, lw=2,
                   label=f"{METHODS[method].label}: theory (mean +- std)")
        right.fill_between(depth, predicted - spread, predicted + spread, color=color,
                           alpha=0.15)
        right.plot(depth, measured, color=color, lw=1.2, ls="--", label="  measured mean")
    right.axhline(0.0, color="grey", lw=0.6)
    right.set(xlabel="layer l", ylabel="log ||h_l|| - log ||x||",
              title="Signal through depth at initialization")
    right.legend(fontsize="small", loc="lower left")
    figure.suptitle(f"{name}: deep, narrow leaky-ReLU MLP", fontsize="medium")
    figure.savefig(args.figure, dpi=110)


if __name__ == "__main__":
    main()
