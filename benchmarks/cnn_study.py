"""Which initialization trains a deep narrow CNN (no normalization, no skips) most often.

The network: ``depth`` convolutions of size 3 (3x3 on images, 3 on MNIST-1D's
sequences) and ``width`` channels ('same', zero biases,
LeakyReLU(0.01)), global average pooling, a Dense layer of logits
(``experiments.methods.build_cnn``). Methods (``experiments.methods.CNN_METHODS``):
untruncated slope-aware He; Keras ``Orthogonal`` (matrix view, gain 1);
``DeltaOrthogonal`` with the He gain (Xiao et al. 2018); ``LyapunovDeltaOrthogonal``;
a Gaussian at the scale ``calibrate_scale`` measures for the width->width convolution;
LSUV (Mishkin & Matas 2016) from Keras ``Orthogonal``; and ``LyapunovDeltaOrthogonal``
with the sampled selection (k = ceil(sqrt(depth)), the default budget share of fit's
steps, through the model's own train step on the first batch). Every method trains with
AdamW (lr 1e-3, cosine decay, weight decay 0.004) under the same compiled train step and,
per seed, the same data order. A seed "trains" when its final test accuracy is at least
chance + 10 points. The signal columns are the method's exponent: ``measure_exponent`` of
its width->width convolution with the leaky ReLU, chained on the input's grid (256 layers
after 32 of burn-in, 8 chains), and what it makes of the whole depth, ``depth x lambda``.

Usage:
    python -m benchmarks.cnn_study                              # digits, depth 32, width 8
    python -m benchmarks.cnn_study --dataset mnist1d --depth 48 --width 16
"""

import argparse
import datetime
import os
import platform

import numpy as np

from benchmarks import RESULTS, write_report
from experiments.cnn import CNN_DEFAULT_METHODS, run_cnn_study
from experiments.data import load_digits
from experiments.methods import CNN_METHODS
from experiments.proportions import wilson


MNIST1D_TRAIN = 4000


def load(dataset):
    """``(train, test, input_shape)`` as channels-last images or sequences."""
    if dataset == "digits":
        (xt, yt), (xe, ye) = load_digits()
        return (xt.reshape(-1, 8, 8, 1), yt), (xe.reshape(-1, 8, 8, 1), ye), (8, 8, 1)
    if dataset == "mnist1d":
        from experiments.data import load_study_data

        # MNIST-1D's own default size: 5,000 sequences, 4,000 of them for training.
        train, test, _, _ = load_study_data("mnist1d", None, MNIST1D_TRAIN)
        length = train[0].shape[1]
        return ((train[0].reshape(-1, length, 1), train[1]),
                (test[0].reshape(-1, length, 1), test[1]), (length, 1))
    raise SystemExit(f"unknown dataset {dataset!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist1d"), default="digits")
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--methods", nargs="+", default=list(CNN_DEFAULT_METHODS),
                        choices=list(CNN_METHODS))
    args = parser.parse_args(argv)
    train, test, shape = load(args.dataset)
    study = run_cnn_study(train, test, shape, depth=args.depth, width=args.width,
                          seeds=args.seeds, epochs=args.epochs, methods=args.methods,
                          batch_size=args.batch_size, log=lambda line: print(line, flush=True))
    chance = 100.0 / study["classes"]
    threshold = chance + 10
    lines = [
        f"# Deep narrow CNN on {args.dataset}: which initialization trains it", "",
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}. "
        f"Command: `python -m benchmarks.cnn_study --dataset {args.dataset} --depth "
        f"{args.depth} --width {args.width} --seeds {args.seeds} --epochs {args.epochs} "
        f"--batch-size {args.batch_size}` ({study['seconds'] / 60:.0f} min).", "",
        __doc__.split("\n\n")[1].replace("\n", " "), "",
        f"{len(train[0])} training / {len(test[0])} test samples, input {shape}; "
        f"{args.depth} convolutions of {args.width} channels. Calibrated Gaussian std "
        f"{study['calibrated_std']:.4f} (He x {study['calibration'].factor:.4f}). Sampled: "
        f"k = {study['k']}, budget {study['budget']} train steps.", "",
        "| method | seeds that train | 95% Wilson | median final accuracy | min - max | "
        "exponent per layer (measured) | depth x exponent |",
        "|---|---:|---:|---:|---:|---:|---:|"]
    for method, runs in study["accuracy"].items():
        final = runs[:, -1]
        trained = int(np.sum(final >= threshold))
        low, high = wilson(trained, len(final))
        estimate = study["signal"].get(method)
        signal = "- | -" if estimate is None else (
            f"{estimate.exponent:+.4f} +- {estimate.standard_error:.4f} | "
            f"{args.depth * estimate.exponent:+.1f}")
        lines.append(f"| {CNN_METHODS[method].label} | {trained}/{len(final)} | "
                     f"[{100 * low:.0f}, {100 * high:.0f}]% | {np.median(final):.1f}% | "
                     f"{final.min():.1f} - {final.max():.1f}% | {signal} |")
    lines += ["", f"Trains: final test accuracy >= {threshold:.0f}% (chance {chance:.0f}% + 10 "
              "points). Exponent '-' for LSUV (it rescales each model on data) and the sampled "
              "method (its law is the unsampled one's)."]
    name = f"cnn_study_{args.dataset}.md"
    write_report(name, lines)
    np.savez(os.path.join(RESULTS, f"cnn_study_{args.dataset}.npz"),
             **{method: runs for method, runs in study["accuracy"].items()})


if __name__ == "__main__":
    main()
