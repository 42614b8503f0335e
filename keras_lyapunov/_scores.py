"""What a candidate is scored by: where the output is measured, and the statistic.

The output is measured *before* a saturating output activation (softmax,
sigmoid, tanh, ...), whose squashing would hide the signal a classifier head
receives (:func:`linear_head`). The statistic is the mean log-gain over the
probes (scale-free) or the log of the mean output norm (the paper's target
norm); see :func:`score_statistic`. The compiled function that computes it is
traced once per model and kept on the model (:func:`cached_statistic`).
"""

import contextlib

import keras

from keras_lyapunov._forward import compiled_forward
from keras_lyapunov._probes import log_norms

SATURATING_ACTIVATIONS = (
    "softmax", "log_softmax", "sigmoid", "hard_sigmoid", "tanh", "softsign",
    "hard_tanh", "sparse_sigmoid",
)  # fmt: skip


def output_layers(model):
    """The layers that produce the model's outputs, in order (those that can be known)."""
    if isinstance(model, keras.Sequential):
        return model.layers[-1:]
    found = []
    for output in keras.tree.flatten(getattr(model, "outputs", None) or []):
        history = getattr(output, "_keras_history", None)
        if history is not None and not any(layer is history[0] for layer in found):
            found.append(history[0])
    return found


def activation_name(function):
    """The lower-case name of an activation function."""
    return getattr(function, "__name__", type(function).__name__).lower()


@contextlib.contextmanager
def _softmax_layer_as_identity(layer):
    original = layer.__dict__.get("call")
    object.__setattr__(layer, "call", lambda inputs, mask=None, **kwargs: inputs)
    try:
        yield f"the input of {layer.name!r} (softmax)"
    finally:
        if original is None:
            object.__delattr__(layer, "call")
        else:
            object.__setattr__(layer, "call", original)


@contextlib.contextmanager
def _linear_activation(layer, name):
    activation = layer.activation
    layer.activation = keras.activations.linear
    try:
        yield f"the pre-activation of {layer.name!r} (before its {name})"
    finally:
        layer.activation = activation


@contextlib.contextmanager
def linear_head(model):
    """Temporarily removes every output's saturating activation; yields a description.

    Each output layer that is a ``Softmax`` layer, or whose ``activation`` is one of
    :data:`SATURATING_ACTIVATIONS`, computes its input (pre-activation) instead
    inside the block, and is restored on exit, also on an exception.
    """
    with contextlib.ExitStack() as stack:
        described = []
        for layer in output_layers(model):
            activation = getattr(layer, "activation", None)
            if isinstance(layer, keras.layers.Softmax):
                described.append(stack.enter_context(_softmax_layer_as_identity(layer)))
            elif activation is not None and activation_name(activation) in SATURATING_ACTIVATIONS:
                described.append(stack.enter_context(
                    _linear_activation(layer, activation_name(activation))))
        yield " and ".join(described) if described else "the model output"


def score_statistic(outputs, log_input_norms, target_norm):
    """The statistic behind a candidate's score, as a backend scalar.

    Args:
        outputs: the model's outputs on the probes (several outputs: one joint norm).
        log_input_norms: ``log ||x_i||`` of the probes.
        target_norm: None for the scale-free statistic, the mean of
            ``log(||N(x)|| / ||x||)``; else ``log(mean ||N(x)||)``, whose distance to
            ``log(target_norm)`` is the paper's score.

    Returns:
        A scalar tensor.
    """
    ops = keras.ops
    logs = log_norms(outputs)  # several outputs: one joint norm
    if target_norm is None:
        return ops.mean(logs - log_input_norms)
    largest = ops.max(logs)  # log of the mean norm, without overflow
    return largest + ops.log(ops.mean(ops.exp(logs - largest)))


def compiled_statistic(model, target_norm):
    """One compiled ``(trainable, non_trainable, probes, log_input_norms) -> statistic``."""
    return compiled_forward(
        model, lambda outputs, log_input_norms: score_statistic(
            outputs, log_input_norms, target_norm))


_CACHE_ATTRIBUTE = "_keras_lyapunov_forward_cache"


def cached_statistic(model, measured_at, target_norm):
    """The compiled statistic for this model, head and score, traced once per model.

    Kept on the model (outside Keras's attribute tracking) and keyed by the
    backend, the measured head and the model's variables, so a later selection
    on the same model does not trace again, and any change of the model's
    variables makes a new one.
    """
    cache = model.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = {}
        object.__setattr__(model, _CACHE_ATTRIBUTE, cache)
    key = (keras.backend.backend(), measured_at, target_norm is None,
           tuple(id(v) for v in model.variables))
    if key not in cache:
        cache.clear()  # one entry per model: the model's current structure
        cache[key] = compiled_statistic(model, target_norm)
    return cache[key]
