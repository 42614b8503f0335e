"""How a Keras model reads as a chain: the activation after each kernel layer, the slope
check, and the positions a convolutional chain keeps.

The initializers are exact for one slope; the activation a model actually
applies may be another. The defaults disagree: the initializers use 0.01 (the
paper), ``keras.layers.LeakyReLU`` 0.3, ``keras.activations.leaky_relu`` 0.2,
and plain ReLU (slope 0) makes the exponent minus infinity (docs/theory.md
section 1: every unit of a layer is negative with probability ``2**-width``,
and then the signal is zero for good). This module reads the slope off the
model and warns when it differs from the initializer's.
"""

import dataclasses
import functools
import math
import warnings

import keras

from keras_lyapunov.initializers import LYAPUNOV_INITIALIZERS, LyapunovDeltaOrthogonal

__all__ = ["ActivationSlope", "LayerChain", "PositionTrack", "activation_slope", "check_slopes",
           "layer_chain", "position_track", "slope_mismatches"]


# Layers that leave the norm of every sample unchanged at inference.
NORM_PRESERVING_LAYERS = (
    keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Reshape,
    keras.layers.Permute, keras.layers.Dropout, keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D, keras.layers.SpatialDropout3D,
    keras.layers.GaussianDropout, keras.layers.GaussianNoise,
    keras.layers.AlphaDropout, keras.layers.ActivityRegularization,
    keras.layers.Identity,
)  # fmt: skip
ACTIVATION_LAYERS = (
    keras.layers.Activation, keras.layers.LeakyReLU, keras.layers.ReLU,
    keras.layers.PReLU, keras.layers.ELU, keras.layers.Softmax,
)  # fmt: skip


# Convolutions a delta-orthogonal kernel makes a per-position Dense map (docs/theory.md s. 7).
CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
# Layers whose kernel maps in_channels -> units at every position: what the theory covers.
KERNEL_LAYERS = (keras.layers.Dense, *CONVOLUTIONS)
# Convolutions whose kernel is not one matrix applied at each position.
UNCOVERED_CONVOLUTIONS = (
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
)  # fmt: skip


def grouped_convolution(layer):
    """Why a convolution's delta-orthogonal kernel is not covered when it is grouped, else None.

    With ``groups > 1`` the centre tap acts as a block-diagonal matrix, not as the
    orthogonal matrix the Lyapunov gain is exact for (docs/theory.md s. 7).

    Args:
        layer: a Keras layer.

    Returns:
        ``"a grouped convolution (groups=N): ..."``, or None for an ungrouped layer.
    """
    groups = getattr(layer, "groups", 1)
    if groups == 1:
        return None
    return (f"a grouped convolution (groups={groups}): its centre tap is then "
            "block-diagonal, not the orthogonal matrix the gain is exact for")


@dataclasses.dataclass(frozen=True)
class ActivationSlope:
    """The negative slope of an activation, when it is piecewise linear.

    Attributes:
        slope: 1.0 for the identity, the leaky-ReLU negative slope, 0.0 for
            ReLU, or None when the activation is not of the form
            ``max(z, slope * z)`` (or cannot be recognised).
        description: human-readable name, e.g. ``"LeakyReLU(0.3)"``.
    """

    slope: float | None
    description: str


def _function_slope(function):
    keywords = {}
    if isinstance(function, functools.partial):
        keywords = dict(function.keywords or {})
        function = function.func
    leaky = (keras.activations.leaky_relu, keras.ops.leaky_relu)
    relu = (keras.activations.relu, keras.ops.relu)
    if function in (keras.activations.linear, None):
        return ActivationSlope(1.0, "linear")
    if function in leaky:
        slope = float(keywords.get("negative_slope", 0.2))
        return ActivationSlope(slope, f"leaky_relu({slope:g})")
    if function in relu:
        slope = float(keywords.get("negative_slope", 0.0))
        if keywords.get("max_value") is not None or keywords.get("threshold", 0.0) != 0.0:
            return ActivationSlope(None, "relu with max_value/threshold")
        return ActivationSlope(slope, "relu" if slope == 0 else f"relu(negative_slope={slope:g})")
    name = getattr(function, "__name__", type(function).__name__)
    return ActivationSlope(None, name)


def _prelu_slope(layer):
    initializer = layer.alpha_initializer
    if isinstance(initializer, keras.initializers.Zeros):
        return ActivationSlope(0.0, "PReLU (learned slope, initially 0)")
    if isinstance(initializer, keras.initializers.Constant):
        value = float(initializer.value)
        return ActivationSlope(value, f"PReLU (learned slope, initially {value:g})")
    return ActivationSlope(None, "PReLU (learned slope)")


def activation_slope(activation):
    """The leaky-ReLU slope of an activation function or activation layer.

    Args:
        activation: a function (``keras.activations.leaky_relu``, ``"relu"``
            as resolved by Keras, a ``functools.partial`` with
            ``negative_slope``), or a layer (``LeakyReLU``, ``ReLU``,
            ``Activation``, ``PReLU``, ...).

    Returns:
        An :class:`ActivationSlope`.

    Example:
        >>> activation_slope(keras.layers.LeakyReLU()).slope
        0.3
    """
    if isinstance(activation, str):
        activation = keras.activations.get(activation)
    if isinstance(activation, keras.layers.LeakyReLU):
        slope = float(activation.negative_slope)
        return ActivationSlope(slope, f"LeakyReLU({slope:g})")
    if isinstance(activation, keras.layers.ReLU):
        if activation.max_value is not None or float(activation.threshold) != 0.0:
            return ActivationSlope(None, "ReLU with max_value/threshold")
        slope = float(activation.negative_slope)
        return ActivationSlope(slope, "ReLU" if slope == 0 else f"ReLU(negative_slope={slope:g})")
    if isinstance(activation, keras.layers.PReLU):
        return _prelu_slope(activation)
    if isinstance(activation, keras.layers.Activation):
        return _function_slope(activation.activation)
    if isinstance(activation, keras.layers.Layer):
        return ActivationSlope(None, type(activation).__name__)
    return _function_slope(activation)


@dataclasses.dataclass(frozen=True)
class ChainStep:
    """One step of a chain: a layer, and the activation layer folded into it."""

    layer: object
    activation_layer: object  # a following activation layer, or None
    output: object  # KerasTensor after the step

    @property
    def activation(self):
        """The :class:`ActivationSlope` applied after ``layer``."""
        if self.activation_layer is not None:
            return activation_slope(self.activation_layer)
        return activation_slope(getattr(self.layer, "activation", None))


@dataclasses.dataclass(frozen=True)
class LayerChain:
    """A model read as a chain: the input and the steps that change the norm."""

    input: object
    steps: tuple


def _single_tensor(value):
    flat = keras.tree.flatten(value)
    return flat[0] if len(flat) == 1 else None


def _layer_io(layer):
    try:
        return _single_tensor(layer.input), _single_tensor(layer.output)
    except (AttributeError, ValueError):  # shared layer or unbuilt graph
        return None, None


def _graph_chain(model):
    """[(layer, its output tensor)] from the model input to its output, in order.

    Walks the model's own graph backwards from its output (so a Sequential
    model that was rebuilt after ``add`` is read from its current graph).
    """
    target, tensor = model.inputs[0], model.outputs[0]
    pairs = []
    while tensor is not target:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            raise ValueError("the model's graph cannot be read back from its output.")
        layer, node_index = history[0], history[1]
        inputs = keras.tree.flatten(layer._inbound_nodes[node_index].input_tensors)
        if len(inputs) != 1:
            raise ValueError(
                "signal analysis needs a chain of layers, each consuming the "
                f"previous one's output; layer {layer.name!r} has {len(inputs)} inputs "
                "(branches, skip connections or several inputs).")
        pairs.append((layer, tensor))
        tensor = inputs[0]
    pairs.reverse()
    return pairs


def layer_chain(model):
    """Reads a Sequential or Functional model as a chain of layers.

    Norm-preserving layers (Flatten, Reshape, Dropout, ...) are dropped; an
    activation layer that directly follows a Dense or convolution layer with a
    linear activation is folded into that step.

    Args:
        model: a built Sequential or Functional Keras model.

    Returns:
        A :class:`LayerChain`.

    Raises:
        ValueError: if the model is subclassed, unbuilt, has several inputs or
            outputs, or its layers do not form a single chain (the layer where
            the chain breaks is named).
    """
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if not inputs or not outputs:
        raise ValueError(
            "`model` must be a built Sequential or Functional model (its layer "
            f"graph is read); got {type(model).__name__} without a known input.")
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"`model` must have one input and one output; it has {len(inputs)} "
            f"and {len(outputs)}.")
    steps = []
    for layer, layer_output in _graph_chain(model):
        if isinstance(layer, NORM_PRESERVING_LAYERS) or (
            isinstance(layer, keras.layers.Activation)
            and activation_slope(layer).slope == 1.0
        ):
            continue
        previous = steps[-1] if steps else None
        if (
            previous is not None
            and isinstance(layer, ACTIVATION_LAYERS)
            and isinstance(previous.layer, KERNEL_LAYERS)
            and previous.activation_layer is None
            and activation_slope(previous.layer.activation).slope == 1.0
        ):
            steps[-1] = ChainStep(previous.layer, layer, layer_output)
        else:
            steps.append(ChainStep(layer, None, layer_output))
    return LayerChain(inputs[0], tuple(steps))


def _kernel_activations(model):
    """[(layer, ActivationSlope)] for every Dense or convolution layer of the model."""
    try:
        return [(step.layer, step.activation) for step in layer_chain(model).steps
                if isinstance(step.layer, (*KERNEL_LAYERS, *UNCOVERED_CONVOLUTIONS))]
    except ValueError:
        pass
    # Not a chain: read each Dense layer's single consumer, when there is one.
    consumers = {}
    for layer in getattr(model, "layers", []):
        layer_input, _ = _layer_io(layer)
        if layer_input is not None:
            consumers.setdefault(id(layer_input), []).append(layer)
    found = []
    for layer in getattr(model, "layers", []):
        if not isinstance(layer, (*KERNEL_LAYERS, *UNCOVERED_CONVOLUTIONS)):
            continue
        own = activation_slope(layer.activation)
        _, output = _layer_io(layer)
        following = consumers.get(id(output), []) if output is not None else []
        if own.slope == 1.0 and len(following) == 1 and isinstance(
            following[0], ACTIVATION_LAYERS
        ):
            own = activation_slope(following[0])
        found.append((layer, own))
    return found


def check_slopes(model, *, warn=True):
    """Compares each Lyapunov-initialized layer's slope with its activation.

    Warns (``UserWarning``) when the slope the model applies after a layer
    whose kernel comes from a Lyapunov initializer differs from
    the initializer's ``slope``, when that activation is ReLU (slope 0: the
    theory predicts collapse), and when it is not piecewise linear.

    Args:
        model: a built Keras model.
        warn: issue the warnings (default True); the findings are returned
            either way.

    Returns:
        A list of messages, one per mismatching layer (empty when all agree).

    Example:
        >>> model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(
        ...     10, kernel_initializer=LyapunovNormal(slope=0.01)),
        ...     keras.layers.LeakyReLU()])
        >>> len(check_slopes(model, warn=False))  # LeakyReLU defaults to 0.3
        1

    Reference: docs/theory.md section 3 (the scale is exact for one slope).
    """
    messages = slope_mismatches(model)
    if warn:
        for message in messages:
            warnings.warn(message, UserWarning, stacklevel=2)
    return messages


def slope_mismatches(model):
    """The messages of :func:`check_slopes`, without warning."""
    messages = []
    for layer, applied in _kernel_activations(model):
        initializer = getattr(layer, "kernel_initializer", None)
        delta = [getattr(layer, attribute, None) for attribute in (
            "kernel_initializer", "depthwise_initializer", "pointwise_initializer")]
        if isinstance(layer, UNCOVERED_CONVOLUTIONS) and any(
                isinstance(d, LyapunovDeltaOrthogonal) for d in delta):
            messages.append(
                f"layer {layer.name!r} ({type(layer).__name__}) is initialized by "
                "LyapunovDeltaOrthogonal, which is exact for Conv1D, Conv2D and Conv3D only: "
                "a transposed convolution's kernel is (*spatial, out, in) and its stride "
                "inserts zeros; a depthwise kernel acts on one channel at a time. Use it "
                "on ordinary convolutions, and measure this layer with "
                "keras_lyapunov.measure_exponent.")
            continue
        grouped = grouped_convolution(layer)
        if isinstance(initializer, LyapunovDeltaOrthogonal) and grouped is not None:
            messages.append(f"layer {layer.name!r} is initialized by LyapunovDeltaOrthogonal "
                            f"and is {grouped}. Use groups=1.")
            continue
        if not isinstance(initializer, LYAPUNOV_INITIALIZERS):
            continue
        name = type(initializer).__name__
        if applied.slope is None:
            message = (
                f"layer {layer.name!r} is initialized by {name}(slope={initializer.slope:g}) "
                f"but is followed by {applied.description}, which is not a leaky ReLU; "
                "the Lyapunov scale does not apply to it.")
        elif applied.slope == 0.0:
            message = (
                f"layer {layer.name!r} is initialized by {name}(slope={initializer.slope:g}) "
                f"but is followed by {applied.description} (slope 0): with ReLU each "
                "layer zeroes the signal with positive probability, so the theory "
                "predicts collapse in depth (exponent -inf). Use a leaky ReLU.")
        elif not math.isclose(applied.slope, initializer.slope, rel_tol=1e-9, abs_tol=0.0):
            message = (
                f"layer {layer.name!r} is initialized by {name}(slope={initializer.slope:g}) "
                f"but is followed by {applied.description} (slope {applied.slope:g}); "
                f"use {name}(slope={applied.slope:g}) or change the activation "
                "(keras.layers.LeakyReLU defaults to 0.3, keras.activations.leaky_relu "
                "to 0.2, the initializers to 0.01).")
        else:
            continue
        messages.append(message)
    return messages


# --------------------------------------------------------------------------
# Positions: a convolutional chain, read at one position
# --------------------------------------------------------------------------

# Layers that act on each position alone (on channels-last maps), leaving the grid as it is.
_PER_POSITION_LAYERS = (
    *ACTIVATION_LAYERS, keras.layers.Dropout, keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D, keras.layers.SpatialDropout3D, keras.layers.GaussianDropout,
    keras.layers.GaussianNoise, keras.layers.AlphaDropout, keras.layers.ActivityRegularization,
    keras.layers.Identity, keras.layers.BatchNormalization,
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PositionTrack:
    """The layers from a spatial input on which every position can be followed.

    Attributes:
        outputs: ids of the output KerasTensors of those layers, in order.
        grids: the spatial shape of each of those outputs.
        input_grid: the spatial shape of the model's input.
        maps: per layer, ``(strides, offsets)`` per spatial axis: output position
            ``o`` reads the input position ``o * stride + offset`` through its
            centre tap (the identity for a per-position layer).
        stop: the first layer where positions are mixed (Flatten, pooling, ...),
            or None.
    """

    outputs: tuple
    grids: tuple
    input_grid: tuple
    maps: tuple
    stop: object

    def back(self, position, start, stop=-1):
        """The position at the output of layer ``stop`` (-1: the model input) that
        ``position`` at the output of layer ``start`` reads, ``stop < start``."""
        for strides, offsets in reversed(self.maps[stop + 1: start + 1]):
            position = tuple(o * s + b for o, s, b in zip(position, strides, offsets))
        return position


def _conv_map(layer, in_grid, out_grid):
    """``(strides, offsets)`` of a channels-last convolution, or None if not trackable."""
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return None
    strides, offsets = [], []
    for axis, (n, out) in enumerate(zip(in_grid, out_grid)):
        k = layer.kernel_size[axis]
        s = layer.strides[axis]
        d = layer.dilation_rate[axis]
        centre = (k - 1) // 2 * d
        if layer.padding == "valid":
            before = 0
        elif layer.padding == "same":  # as TensorFlow and XLA pad, extra row at the end
            before = max((out - 1) * s + (k - 1) * d + 1 - n, 0) // 2
        elif layer.padding == "causal":
            before = (k - 1) * d
        else:
            return None
        strides.append(s)
        offsets.append(centre - before)
    return tuple(strides), tuple(offsets)


def position_track(model):
    """Follows positions from a spatial (channels-last) input while layers keep them.

    Convolutions (Conv1D/2D/3D) map each output position to the input position
    under their centre tap; activations, dropout, noise and batch normalization
    act on each position alone; a Dense layer on a map acts on the last axis.
    The first other layer (Flatten, pooling, a transposed or depthwise
    convolution, channels-first data) stops the track.

    Args:
        model: a built Sequential or Functional model read as a chain.

    Returns:
        A :class:`PositionTrack`, or None when the input has no spatial axes.
    """
    input_shape = tuple(model.inputs[0].shape[1:])
    if len(input_shape) < 2 or any(d is None for d in input_shape[:-1]):
        return None
    grid = input_shape[:-1]
    outputs, grids, maps, stop = [], [], [], None
    for layer, output in _graph_chain(model):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        out_grid = tuple(output.shape[1:-1])
        if isinstance(layer, CONVOLUTIONS):
            mapping = _conv_map(layer, grid, out_grid)
        elif isinstance(layer, (*_PER_POSITION_LAYERS, keras.layers.Dense)) and (
                out_grid == grid and len(output.shape) == len(input_shape) + 1):
            mapping = ((1,) * len(grid), (0,) * len(grid))
        else:
            mapping = None
        if mapping is None or any(d is None for d in out_grid):
            stop = layer
            break
        outputs.append(id(output))
        grids.append(out_grid)
        maps.append(mapping)
        grid = out_grid
    return PositionTrack(tuple(outputs), tuple(grids), input_shape[:-1], tuple(maps), stop)
