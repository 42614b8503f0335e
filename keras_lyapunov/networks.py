"""Deep, narrow leaky-ReLU networks: the networks the theory describes, built one way.

:func:`leaky_relu_mlp` is the one builder behind the command line's report
network (:func:`standard_mlp`), the project's experiments (the paper's MLPs),
the examples and the tests; :func:`leaky_relu_cnn` is its convolutional twin
(a chain of bias-free convolutions, no normalization, no skips).
"""

import keras

from keras_lyapunov import _validation, theory
from keras_lyapunov.initializers import LyapunovDeltaOrthogonal, LyapunovNormal

__all__ = ["leaky_relu_cnn", "leaky_relu_mlp", "standard_mlp"]

_CONVOLUTION = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}


def leaky_relu_mlp(input_dim, units, slope, kernel_initializer, *, use_bias=False,
                   output_activation=None, names=None):
    """A Sequential chain of Dense layers, each followed by ``LeakyReLU(slope)``.

    With ``output_activation`` set, the last Dense layer is the output layer: it
    takes that activation (``"linear"`` for logits or regression, ``"softmax"``,
    ...) instead of the leaky ReLU.

    Args:
        input_dim: input features, an integer >= 1.
        units: the Dense layers' widths, in order (a non-empty sequence).
        slope: leaky-ReLU negative slope (nonzero).
        kernel_initializer: ``(index, slope_after) -> initializer``, called once
            per Dense layer in order; ``slope_after`` is the slope of the
            activation that follows the layer (1.0 for a linear output layer).
        use_bias: Dense biases (zero-initialized).
        output_activation: None (every layer leaky ReLU) or the output layer's
            activation.
        names: optional names of the Dense layers.

    Returns:
        A built ``keras.Sequential``.

    Example:
        >>> model = leaky_relu_mlp(784, [10] * 99 + [10], 0.01,
        ...                        lambda i, s: LyapunovOrthogonal(slope=s),
        ...                        use_bias=True, output_activation="linear")
    """
    input_dim = _validation.integer(input_dim, "input_dim")
    units = [_validation.integer(width, "units") for width in units]
    if not units:
        raise ValueError("`units` must list at least one layer width. Received: units=[].")
    slope = theory.validate_slope(slope)
    if names is not None and len(names) != len(units):
        raise ValueError(f"`names` must name each of the {len(units)} Dense layers. "
                         f"Received: names={names!r}.")
    layers = [keras.Input((input_dim,))]
    for index, width in enumerate(units):
        output_layer = output_activation is not None and index == len(units) - 1
        options = {"name": names[index]} if names is not None else {}
        if output_layer:
            options["activation"] = output_activation
        layers.append(keras.layers.Dense(
            width, use_bias=use_bias,
            kernel_initializer=kernel_initializer(index, 1.0 if output_layer else slope),
            **options))
        if not output_layer:
            layers.append(keras.layers.LeakyReLU(negative_slope=slope))
    return keras.Sequential(layers)


def standard_mlp(width, depth, slope, kernel_initializer=None):
    """A bias-free chain of ``depth`` Dense(width) + LeakyReLU(slope) layers on ``width`` inputs.

    Args:
        width: layer width and input dimension, an integer >= 1.
        depth: number of Dense layers, an integer >= 1.
        slope: leaky-ReLU negative slope (nonzero).
        kernel_initializer: a function ``slope -> initializer`` called once per
            layer (each layer gets its own instance); default LyapunovNormal.

    Returns:
        A built ``keras.Sequential``.

    Example:
        >>> model = standard_mlp(10, 100, 0.01, lambda s: LyapunovOrthogonal(slope=s))
    """
    width = _validation.integer(width, "width")
    depth = _validation.integer(depth, "depth")
    make = kernel_initializer or (lambda s: LyapunovNormal(slope=s))
    return leaky_relu_mlp(width, [width] * depth, slope, lambda index, s: make(s))


def leaky_relu_cnn(input_shape, channels, depth, slope, kernel_initializer=None, *,
                   kernel_size=3, classes=None, head_initializer="glorot_uniform",
                   use_bias=False):
    """A chain of ``depth`` convolutions, each followed by ``LeakyReLU(slope)``.

    ``padding="same"``, stride 1, no normalization and no skips: the deep narrow
    CNN of delta-orthogonal studies (Xiao et al. 2018). With ``classes`` set, a
    head follows: global average pooling and a Dense layer of logits.

    Args:
        input_shape: channels-last input shape, e.g. ``(28, 28, 1)``; its rank
            (2 to 4) picks Conv1D, Conv2D or Conv3D.
        channels: the convolutions' output channels, an integer >= 1.
        depth: number of convolutions, an integer >= 1.
        slope: leaky-ReLU negative slope (nonzero).
        kernel_initializer: ``(index, slope) -> initializer``, called once per
            convolution; default ``LyapunovDeltaOrthogonal(slope)``.
        kernel_size: an odd integer >= 1.
        classes: None (no head) or the number of logits, an integer >= 1.
        head_initializer: the kernel initializer of the head's Dense layer.
        use_bias: convolution biases (zero-initialized; the theory assumes zero).

    Returns:
        A built ``keras.Sequential``.

    Example:
        >>> model = leaky_relu_cnn((28, 28, 1), 8, 50, 0.01, classes=10)
    """
    input_shape = tuple(_validation.integer(d, "input_shape") for d in input_shape)
    if len(input_shape) - 1 not in _CONVOLUTION:
        raise ValueError("`input_shape` must be (length, channels), (height, width, channels) "
                         f"or (depth, height, width, channels). Received: {input_shape!r}.")
    channels = _validation.integer(channels, "channels")
    depth = _validation.integer(depth, "depth")
    kernel_size = _validation.integer(kernel_size, "kernel_size")
    slope = theory.validate_slope(slope)
    make = kernel_initializer or (lambda index, s: LyapunovDeltaOrthogonal(slope=s))
    convolution = _CONVOLUTION[len(input_shape) - 1]
    layers = [keras.Input(input_shape)]
    for index in range(depth):
        layers += [convolution(channels, kernel_size, padding="same", use_bias=use_bias,
                               kernel_initializer=make(index, slope)),
                   keras.layers.LeakyReLU(negative_slope=slope)]
    if classes is not None:
        pooling = {1: keras.layers.GlobalAveragePooling1D, 2: keras.layers.GlobalAveragePooling2D,
                   3: keras.layers.GlobalAveragePooling3D}[len(input_shape) - 1]
        layers += [pooling(), keras.layers.Dense(_validation.integer(classes, "classes"),
                                                 kernel_initializer=head_initializer)]
    return keras.Sequential(layers)
