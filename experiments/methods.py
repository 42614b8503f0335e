"""The paper's initialization methods, its MLPs, and LSUV.

Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 5. Methods (``METHODS``):
hidden layers get the method's kernel; the first layer gets He (Gaussian
methods) or scaled orthogonal (orthogonal methods), as the paper does; the
linear output layer gets the same family at slope 1 (He at slope 1 is
``N(0, 1/fan_in)``, scaled orthogonal at slope 1 is gain 1). ``"glorot"`` uses
Keras's default GlorotUniform everywhere. ``"lsuv"`` is Mishkin & Matas (2016):
orthogonal kernels, then each layer in order rescaled so its output variance on
a data batch is 1. Every kernel initializer is an entry of the package's one
registry, ``keras_lyapunov.baselines.INITIALIZERS``.
"""

import dataclasses
import math

import keras
import numpy as np

from keras_lyapunov import SampledLyapunov, sample_initialization
from experiments.seeds import EXPERIMENT_LAYERS, derive_seed
from keras_lyapunov.baselines import INITIALIZERS
from keras_lyapunov.networks import leaky_relu_cnn, leaky_relu_mlp
from keras_lyapunov.structure import KERNEL_LAYERS

__all__ = ["CNN_METHODS", "METHODS", "Method", "build_cnn", "build_mlp", "default_k",
           "initialize", "lsuv", "prepare"]


@dataclasses.dataclass(frozen=True)
class Method:
    """An initialization method of the paper's experiments.

    Attributes:
        label: display name (as in the paper's tables).
        hidden: registry name (``keras_lyapunov.baselines.INITIALIZERS``) of the
            hidden kernels.
        outer: registry name of the first and output layers' kernels.
        sampled: select the best of k candidates (SampledLyapunov) before training.
        lsuv: apply LSUV before training.
        paper_score: score candidates by the paper's output norm (target-norm)
            instead of the library's default (the loss after trial steps).
    """

    label: str
    hidden: str
    outer: str
    sampled: bool = False
    lsuv: bool = False
    paper_score: bool = False


METHODS = {
    "glorot": Method("Glorot", "glorot-uniform", "glorot-uniform"),
    "he": Method("He", "he", "he"),
    "scaled-orthogonal": Method("Scaled orth", "scaled-orthogonal", "scaled-orthogonal"),
    "lyapunov-normal": Method("Lyap Gauss", "lyapunov-normal", "he"),
    "lyapunov-orthogonal": Method("Lyap Orth", "lyapunov-orthogonal", "scaled-orthogonal"),
    "sampled-lyapunov-normal": Method("Sampled Lyap Gauss", "lyapunov-normal", "he",
                                      sampled=True),
    "sampled-lyapunov-orthogonal": Method("Sampled Lyap Orth", "lyapunov-orthogonal",
                                          "scaled-orthogonal", sampled=True),
    "paper-sampled-lyapunov-normal": Method("Sampled Lyap Gauss (norm)", "lyapunov-normal",
                                            "he", sampled=True, paper_score=True),
    "paper-sampled-lyapunov-orthogonal": Method(
        "Sampled Lyap Orth (norm)", "lyapunov-orthogonal", "scaled-orthogonal", sampled=True,
        paper_score=True),
    "lsuv": Method("LSUV", "orthogonal", "orthogonal", lsuv=True),
}


# The deep narrow CNN's methods (benchmarks/cnn_study.py): ``hidden`` draws every
# convolution but the first, ``outer`` the first; "calibrated-gaussian" is a Gaussian at
# the scale calibrate_scale measures (build_cnn's ``calibrated_std``).
CNN_METHODS = {
    "he": Method("He", "he", "he"),
    "orthogonal": Method("Orthogonal (Keras)", "orthogonal", "orthogonal"),
    "delta-orthogonal": Method("Delta-orth, He gain", "delta-orthogonal", "delta-orthogonal"),
    "lyapunov-delta-orthogonal": Method("Lyap delta-orth", "lyapunov-delta-orthogonal",
                                        "lyapunov-delta-orthogonal"),
    "calibrated-gaussian": Method("Calibrated Gaussian", "calibrated-gaussian", "he"),
    "lsuv": Method("LSUV", "orthogonal", "orthogonal", lsuv=True),
    "sampled-lyapunov-delta-orthogonal": Method(
        "Sampled Lyap delta-orth", "lyapunov-delta-orthogonal", "lyapunov-delta-orthogonal",
        sampled=True),
}


def build_cnn(input_shape, width, depth, classes, *, method, slope=0.01, seed=0,
              calibrated_std=None):
    """The deep narrow CNN: ``depth`` 3x3 convolutions of ``width`` channels, 'same', leaky
    ReLU, zero biases, no normalization or skips; global average pooling, Dense logits.

    Args:
        input_shape: channels-last, e.g. ``(8, 8, 1)`` (Conv2D) or ``(40, 1)`` (Conv1D).
        width, depth, classes: channels, convolutions, logits.
        method: a key of ``CNN_METHODS``.
        slope: leaky-ReLU negative slope.
        seed: integer; convolution i's kernel is drawn from a seed derived from (seed, i).
        calibrated_std: the Gaussian's standard deviation for "calibrated-gaussian".

    Returns:
        A built ``keras.Sequential``.
    """
    spec = CNN_METHODS[method]

    def kernel_initializer(index, slope_after):
        name = spec.hidden if index > 0 else spec.outer
        layer_seed = derive_seed(seed, EXPERIMENT_LAYERS, index)
        if name == "calibrated-gaussian":
            return keras.initializers.RandomNormal(stddev=calibrated_std, seed=layer_seed)
        return INITIALIZERS[name](slope_after, layer_seed)

    return leaky_relu_cnn(input_shape, width, depth, slope, kernel_initializer,
                          classes=classes, use_bias=True,
                          head_initializer=keras.initializers.GlorotUniform(
                              seed=derive_seed(seed, EXPERIMENT_LAYERS, depth)))


def default_k(depth):
    """The candidates of the sampled methods: ``ceil(sqrt(depth))``, the paper's O(sqrt(depth))."""
    return math.ceil(math.sqrt(depth))


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
    count = hidden + 2

    def kernel_initializer(index, slope_after):
        name = spec.hidden if 0 < index < count - 1 else spec.outer
        return INITIALIZERS[name](slope_after, derive_seed(seed, EXPERIMENT_LAYERS, index))

    return leaky_relu_mlp(input_dim, [width] * (count - 1) + [output_dim], slope,
                          kernel_initializer, use_bias=True, output_activation="linear")


def lsuv(model, x, *, tolerance=0.1, max_iterations=10):
    """Layer-sequential unit-variance initialization (Mishkin & Matas, ICLR 2016).

    Visits the Dense and convolution layers in order and divides each kernel by the standard
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
    dense = [layer for layer in model.layers if isinstance(layer, KERNEL_LAYERS)]
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


def _selection(spec, x_probe, y_probe, k, seed, target_norm):
    """The arguments of a sampled method's selection (for the callback or the function)."""
    if spec.paper_score:
        return dict(x=x_probe, k=k, seed=seed, verbose=0, score="target-norm",
                    target_norm=target_norm)
    return dict(k=k, seed=seed, verbose=0)  # the design card's call: fit's own data


def prepare(model, method, x_probe, y_probe, *, k, seed, target_norm=1.0):
    """Applies LSUV now, or returns the SampledLyapunov callback for ``fit``.

    Args:
        model: a model from :func:`build_mlp`.
        method: its ``METHODS`` key.
        x_probe: inputs used by LSUV and as the probes of the paper's score.
        y_probe: their labels (the default score trains on fit's own first batch;
            :func:`initialize` uses these instead).
        k: candidates of the sampled methods.
        seed: integer seed of the selection.
        target_norm: the target output norm of the paper's score (``paper_score``).

    Returns:
        A list of callbacks to pass to ``fit`` (empty or one SampledLyapunov).
    """
    spec = method if isinstance(method, Method) else METHODS[method]
    if spec.lsuv:
        lsuv(model, x_probe)
    if spec.sampled:
        return [SampledLyapunov(**_selection(spec, x_probe, y_probe, k, seed, target_norm))]
    return []


def initialize(model, method, x_probe, y_probe, *, k, seed, compile_model, budget=None,
               target_norm=1.0):
    """Applies the method's step before training now: LSUV, or the sampled selection.

    What :func:`prepare`'s callback does in ``fit``, for weights that are then
    trained elsewhere (e.g. by ``experiments.training.ClassifierTrainer``).

    Args:
        model, method, x_probe, y_probe, k, seed, target_norm: as :func:`prepare`
            (``method`` a key of ``METHODS`` or a :class:`Method`, e.g. of ``CNN_METHODS``).
        compile_model: compiles ``model`` as it will be trained (the default
            score trains through the model's own train step).
        budget: the selection's train steps (None: the longest trials).
    """
    spec = method if isinstance(method, Method) else METHODS[method]
    if spec.lsuv:
        lsuv(model, x_probe)
    if spec.sampled:
        compile_model(model)
        arguments = _selection(spec, x_probe, y_probe, k, seed, target_norm)
        if not spec.paper_score:
            arguments.update(x=x_probe, y=y_probe, budget=budget)
        sample_initialization(model, **arguments)
