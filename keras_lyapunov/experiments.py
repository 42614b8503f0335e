"""The paper's experiments: initialization methods, LSUV, the MLPs, data, training.

Shared by ``examples/`` (polynomial.py, image_classification.py, score.py) and
``benchmarks/replicate.py``, so every script trains exactly the same models.
Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 5.

Methods (``METHODS``). Hidden layers get the method's kernel; the first layer
gets He (Gaussian methods) or scaled orthogonal (orthogonal methods), as the
paper does; the linear output layer gets the same family at slope 1 (He at
slope 1 is ``N(0, 1/fan_in)``, scaled orthogonal at slope 1 is gain 1).
``"glorot"`` uses Keras's default GlorotUniform everywhere. ``"lsuv"`` is
Mishkin & Matas (2016): orthogonal kernels, then each layer in order rescaled
so its output variance on a data batch is 1.
"""

import dataclasses
import gzip
import math
import os
import struct

import keras
import numpy as np

from keras_lyapunov.diagnostics import he_normal, scaled_orthogonal
from keras_lyapunov.initializers import LyapunovNormal, LyapunovOrthogonal
from keras_lyapunov.sampling import SampledLyapunov, _derive_seed

__all__ = [
    "METHODS",
    "Method",
    "build_mlp",
    "load_image_data",
    "lsuv",
    "prepare",
    "read_idx",
]


@dataclasses.dataclass(frozen=True)
class Method:
    """An initialization method of the paper's experiments.

    Attributes:
        label: display name (as in the paper's tables).
        hidden: ``(slope, seed) -> initializer`` for the hidden kernels.
        outer: ``(slope, seed) -> initializer`` for the first and output layers.
        sampled: select the best of k candidates (SampledLyapunov) before training.
        lsuv: apply LSUV before training.
    """

    label: str
    hidden: object
    outer: object
    sampled: bool = False
    lsuv: bool = False


METHODS = {
    "glorot": Method("Glorot", lambda s, seed: keras.initializers.GlorotUniform(seed=seed),
                     lambda s, seed: keras.initializers.GlorotUniform(seed=seed)),
    "he": Method("He", he_normal, he_normal),
    "scaled-orthogonal": Method("Scaled orth", scaled_orthogonal, scaled_orthogonal),
    "lyapunov-normal": Method(
        "Lyap Gauss", lambda s, seed: LyapunovNormal(slope=s, seed=seed), he_normal),
    "lyapunov-orthogonal": Method(
        "Lyap Orth", lambda s, seed: LyapunovOrthogonal(slope=s, seed=seed), scaled_orthogonal),
    "sampled-lyapunov-normal": Method(
        "Sampled Lyap Gauss", lambda s, seed: LyapunovNormal(slope=s, seed=seed), he_normal,
        sampled=True),
    "sampled-lyapunov-orthogonal": Method(
        "Sampled Lyap Orth", lambda s, seed: LyapunovOrthogonal(slope=s, seed=seed),
        scaled_orthogonal, sampled=True),
    "lsuv": Method(
        "LSUV", lambda s, seed: keras.initializers.Orthogonal(seed=seed),
        lambda s, seed: keras.initializers.Orthogonal(seed=seed), lsuv=True),
}


def build_mlp(input_dim, width, hidden, output_dim, *, method, slope=0.01, seed=0):
    """The paper's MLP: Dense(input->width), ``hidden`` Dense(width->width), Dense(width->out).

    Every Dense but the last is followed by ``LeakyReLU(slope)``; biases start
    at zero; the output is linear (logits for classification).

    Args:
        input_dim: input features.
        width: hidden width.
        hidden: number of hidden width x width layers.
        output_dim: outputs.
        method: a key of ``METHODS``.
        slope: leaky-ReLU negative slope.
        seed: integer; layer i's kernel is drawn from a seed derived from (seed, i).

    Returns:
        A built ``keras.Sequential``.

    Example:
        >>> model = build_mlp(784, 10, 98, 10, method="lyapunov-orthogonal", seed=0)
    """
    spec = METHODS[method]
    layers = [keras.Input((input_dim,))]
    count = hidden + 2
    for i in range(count):
        last = i == count - 1
        make = spec.hidden if 0 < i < count - 1 else spec.outer
        initializer = make(1.0 if last else slope, _derive_seed(seed, 10, i))
        layers.append(keras.layers.Dense(output_dim if last else width,
                                         kernel_initializer=initializer))
        if not last:
            layers.append(keras.layers.LeakyReLU(negative_slope=slope))
    return keras.Sequential(layers)


def lsuv(model, x, *, tolerance=0.1, max_iterations=10):
    """Layer-sequential unit-variance initialization (Mishkin & Matas, ICLR 2016).

    Visits the Dense layers in order and divides each kernel by the standard
    deviation of that layer's output on ``x`` until the variance is within
    ``tolerance`` of 1 (at most ``max_iterations`` passes per layer). The
    kernels should start orthogonal, as in the paper.

    Args:
        model: a built Sequential/Functional model.
        x: a data batch (array).
        tolerance: accepted ``|variance - 1|``.
        max_iterations: passes per layer.

    Returns:
        The list of final output variances, one per Dense layer.
    """
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    probe = keras.Model(model.inputs[0], [layer.output for layer in dense])
    variances = []
    for index, layer in enumerate(dense):
        variance = math.nan
        for _ in range(max_iterations):
            outputs = probe(x, training=False)
            variance = float(np.var(keras.ops.convert_to_numpy(outputs[index])))
            if not math.isfinite(variance) or variance == 0.0:
                break  # a dead layer cannot be rescaled
            if abs(variance - 1.0) < tolerance:
                break
            layer.kernel.assign(layer.kernel / math.sqrt(variance))
        variances.append(variance)
    return variances


def prepare(model, method, x_probe, *, k, seed, target_norm=None):
    """Applies LSUV now, or returns the SampledLyapunov callback for ``fit``.

    Args:
        model: a model from :func:`build_mlp`.
        method: its ``METHODS`` key.
        x_probe: inputs used by LSUV and as the selection's probes.
        k: candidates of the sampled methods.
        seed: integer seed of the selection.
        target_norm: the selection's target output norm (None: scale-free score).

    Returns:
        A list of callbacks to pass to ``fit`` (empty or one SampledLyapunov).
    """
    spec = METHODS[method]
    if spec.lsuv:
        lsuv(model, x_probe)
    if spec.sampled:
        return [SampledLyapunov(k=k, x=x_probe, seed=seed, verbose=0, target_norm=target_norm)]
    return []


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    """Reads an IDX file (optionally gzip-compressed) into a NumPy array.

    Args:
        path: file path; ``.gz`` files are decompressed.

    Returns:
        A uint8 array of the file's shape.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file.")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(data_dir, stem):
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"no {stem}[.gz] in --data-dir {data_dir!r}")


def load_image_data(dataset="fashion_mnist", data_dir=None):
    """MNIST or Fashion-MNIST as flat float32 images in [0, 1] and int labels.

    Args:
        dataset: ``"mnist"`` or ``"fashion_mnist"`` (from keras.datasets, online).
        data_dir: a folder of IDX files (``train-images-idx3-ubyte.gz``, ...)
            to read instead, e.g. /usr/share/datasets/fashion-mnist from
            Debian's dataset-fashion-mnist package.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    if data_dir is None:
        loader = {"mnist": keras.datasets.mnist,
                  "fashion_mnist": keras.datasets.fashion_mnist}[dataset]
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    else:
        x_train, y_train = (read_idx(_find(data_dir, f)) for f in IDX_FILES["train"])
        x_test, y_test = (read_idx(_find(data_dir, f)) for f in IDX_FILES["test"])

    def flat(images):
        return (images.reshape(len(images), -1) / 255.0).astype("float32")

    return (flat(x_train), y_train.astype("int32")), (flat(x_test), y_test.astype("int32"))


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def _steps_per_execution():
    """Several steps per compiled call (tiny models are dispatch-bound); torch allows 1."""
    return 1 if keras.backend.backend() == "torch" else 10


def train_regression(method, sample, x_eval, y_eval, *, width, hidden, steps, checkpoints,
                     slope=0.01, seed=0, batch_size=64, learning_rate=1e-3, k=None):
    """Trains one regression MLP with Adam on fresh samples; test MSE at checkpoints.

    Args:
        method: a ``METHODS`` key.
        sample: ``(rng, n) -> (x, y)`` drawing ``n`` training pairs.
        x_eval, y_eval: fixed evaluation set.
        width, hidden: the MLP (see :func:`build_mlp`).
        steps: training steps (batches of ``batch_size`` fresh samples).
        checkpoints: increasing steps <= ``steps`` at which the test loss is taken.
        slope, seed, batch_size, learning_rate: as named.
        k: candidates of the sampled methods (default ``ceil(sqrt(depth))``).

    Returns:
        A float array of the test MSE at each checkpoint (``inf`` once diverged).
    """
    keras.utils.set_random_seed(seed)
    model = build_mlp(x_eval.shape[1], width, hidden, y_eval.shape[1], method=method,
                      slope=slope, seed=seed)
    rng = np.random.default_rng(_derive_seed(seed, 11))
    x_train, y_train = sample(rng, steps * batch_size)
    k = k or math.ceil(math.sqrt(hidden + 2))
    # The paper keeps the candidate whose expected output norm is closest to the
    # target: here the mean target norm. (The scale-free default can be fooled by
    # bias-free networks of scalar input, linear on each half-line: gains e^7 and
    # e^-7 average to a log-gain of 0.)
    target_norm = float(np.mean(np.linalg.norm(y_train[:256], axis=1)))
    callbacks = prepare(model, method, x_train[:256], k=k, seed=seed, target_norm=target_norm)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse",
                  steps_per_execution=_steps_per_execution())
    losses, done = [], 0
    for step in checkpoints:
        if step > done:
            model.fit(x_train[done * batch_size:step * batch_size],
                      y_train[done * batch_size:step * batch_size], batch_size=batch_size,
                      epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
            callbacks, done = [], step
        loss = float(model.evaluate(x_eval, y_eval, batch_size=len(x_eval), verbose=0))
        losses.append(loss if math.isfinite(loss) else math.inf)
    return np.array(losses)


def median_table(results, checkpoints, header="step", reference=None, digits=2):
    """Markdown table of the median (and [min, max]) over seeds per method and checkpoint.

    Args:
        results: dict method key -> array (seeds, checkpoints).
        checkpoints: the column values.
        header: name of the checkpoint unit.
        reference: optional dict method key -> the paper's value (last column).
        digits: decimals.

    Returns:
        The table as a string.
    """
    columns = [f"{header} {c}" for c in checkpoints]
    lines = ["| method | " + " | ".join(columns) + (" | paper |" if reference else " |"),
             "|---|" + "---:|" * (len(columns) + bool(reference))]
    for key, values in results.items():
        values = np.asarray(values, dtype=float)
        cells = [f"{np.median(values[:, j]):.{digits}f}" for j in range(values.shape[1])]
        row = f"| {METHODS[key].label} | " + " | ".join(cells)
        if reference:
            paper = reference.get(key)
            row += " | " + ("-" if paper is None else f"{paper:g}")
        lines.append(row + " |")
    return "\n".join(lines)


def train_classifier(method, train, evaluation, *, epochs, seed=0, learning_rate=1e-3,
                     batch_size=256, width=10, hidden=98, slope=0.01, k=None,
                     weight_decay=0.004):
    """Trains the paper's image MLP with AdamW and cosine decay; accuracy per epoch.

    Args:
        method: a ``METHODS`` key.
        train: ``(x, y)`` training images (flat, in [0, 1]) and integer labels.
        evaluation: ``(x, y)`` evaluated after every epoch.
        epochs: training epochs (the cosine decay spans all of them).
        seed, learning_rate, batch_size, width, hidden, slope, weight_decay: as named
            (the paper: batch 256, width 10, 98 hidden layers, slope 0.01).
        k: candidates of the sampled methods (default ``ceil(sqrt(depth))`` = 10).

    Returns:
        A float array of the evaluation accuracy after each epoch.
    """
    (x_train, y_train), (x_eval, y_eval) = train, evaluation
    keras.utils.set_random_seed(seed)
    classes = int(max(np.max(y_train), np.max(y_eval))) + 1
    model = build_mlp(x_train.shape[1], width, hidden, classes, method=method, slope=slope,
                      seed=seed)
    k = k or math.ceil(math.sqrt(hidden + 2))
    callbacks = prepare(model, method, x_train[:256], k=k, seed=seed)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0,
                        validation_data=(x_eval, y_eval), callbacks=callbacks)
    accuracy = np.array(history.history["val_accuracy"], dtype=float)
    return np.where(np.isfinite(accuracy), accuracy, 0.0)


def run_regression(methods, sample, evaluation, *, seeds, steps, checkpoints, hidden,
                   learning_rate=1e-3, log=print):
    """:func:`train_regression` for each method over ``range(seeds)``.

    Args:
        methods: ``METHODS`` keys.
        sample, evaluation: as :func:`train_regression` (``evaluation = (x, y)``).
        seeds, steps, checkpoints, hidden, learning_rate: as named.
        log: called with a line per finished method (None: silent).

    Returns:
        dict method -> array ``(seeds, len(checkpoints))`` of test MSE.
    """
    results = {}
    for method in methods:
        results[method] = np.array([
            train_regression(method, sample, *evaluation, width=2, hidden=hidden, steps=steps,
                             checkpoints=checkpoints, seed=seed, learning_rate=learning_rate)
            for seed in range(seeds)])
        if log is not None:
            log(f"  {METHODS[method].label:20s} median final MSE "
                f"{np.median(results[method][:, -1]):.3f}")
    return results


def example_parser(description, *, methods, hidden, seeds, length_name, length):
    """The examples' common command line: seeds, length, learning rate, methods, depth."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, default=seeds,
                        help=f"seeds per method (default {seeds})")
    parser.add_argument(f"--{length_name}", type=int, default=length,
                        help=f"training {length_name} (default {length})")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="peak learning rate (default 1e-3)")
    parser.add_argument("--methods", default=",".join(methods),
                        help=f"comma-separated, from: {', '.join(METHODS)}")
    parser.add_argument("--hidden", type=int, default=hidden,
                        help=f"hidden layers (default {hidden})")
    return parser


def parse_example_arguments(parser, argv, length_name):
    """Parses and validates; returns ``(args, methods)`` or exits with a usage error."""
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    if min(args.seeds, getattr(args, length_name), args.hidden) < 1:
        parser.error(f"--seeds, --{length_name} and --hidden must be integers >= 1")
    if not args.learning_rate > 0:
        parser.error("--learning-rate must be > 0")
    return args, methods
