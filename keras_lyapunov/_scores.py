"""What a candidate is scored by: the statistic, and where the output is measured.

Norm scores measure the output *before* a saturating output activation
(softmax, sigmoid, tanh, ...), whose squashing would hide the signal a
classifier head receives (:func:`linear_head`). Their statistic is the mean
log-gain over the probes (scale-free) or the log of the mean output norm (the
paper's target norm); see :func:`score_statistic`. The loss score is the
model's own loss on the labelled probes after a few AdamW trial steps taken on
them from the candidate, in a stateless copy of the weights (:func:`trial_loss`).
Each statistic is one compiled function, traced once per model and kept on the
model (:func:`cached_statistic`).
"""

import contextlib
import inspect

import keras

from keras_lyapunov._forward import (
    compile_function,
    compiled_forward,
    stateless_outputs,
    value_and_gradients,
)
from keras_lyapunov._probes import log_norms

TRIAL_OPTIMIZER = {  # the trial's AdamW: Keras's defaults, read from Keras itself
    name: parameter.default
    for name, parameter in inspect.signature(keras.optimizers.AdamW).parameters.items()
    if name in ("weight_decay", "beta_1", "beta_2", "epsilon")
}

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


def mean_loss(loss):
    """``(y_true, y_pred) -> scalar``: a Keras loss (name, function or Loss), averaged."""
    function = keras.losses.get(loss)
    return lambda y_true, y_pred: keras.ops.mean(function(y_true, y_pred))


def trial_loss(model, loss, steps, learning_rate,
               weight_decay=TRIAL_OPTIMIZER["weight_decay"]):
    """One compiled ``(trainable, non_trainable, probes, labels) -> loss after the steps``.

    The trial takes ``steps`` full-batch AdamW steps on the labelled probes
    from the given weights (Keras's AdamW defaults; constant ``learning_rate``,
    decoupled ``weight_decay``) and returns the mean loss on the probes after
    them; ``steps = 0`` is the initial loss. Every value is a local copy: no
    variable of the model, and no optimizer, is read or changed. The forward
    pass is inference (``training=False``: no dropout, no statistics updated).
    Idea from GradInit (Zhu et al. 2021, "loss after one step"); the number of
    steps comes from the trainability study (benchmarks/results/trainability.md).
    """
    ops = keras.ops
    loss = mean_loss(loss)
    beta_1, beta_2, epsilon = (TRIAL_OPTIMIZER[name] for name in ("beta_1", "beta_2", "epsilon"))

    def loss_of(trainable, non_trainable, probes, labels):
        return loss(labels, stateless_outputs(model, trainable, non_trainable, probes))

    gradients_of = value_and_gradients(loss_of)

    def run(trainable, non_trainable, probes, labels):
        def step(index, state):
            weights, first, second = state
            _, gradients = gradients_of(weights, non_trainable, probes, labels)
            t = ops.cast(index + 1, "float32")
            rate = learning_rate * ops.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)
            first = [beta_1 * m + (1.0 - beta_1) * g for m, g in zip(first, gradients)]
            second = [beta_2 * v + (1.0 - beta_2) * g * g for v, g in zip(second, gradients)]
            weights = [w - learning_rate * weight_decay * w - rate * m / (ops.sqrt(v) + epsilon)
                       for w, m, v in zip(weights, first, second)]
            return weights, first, second

        weights = list(trainable)
        if steps:
            zeros = [ops.zeros_like(w) for w in weights]
            weights, _, _ = ops.fori_loop(0, steps, step, (weights, zeros, list(zeros)))
        return loss_of(weights, non_trainable, probes, labels)

    return compile_function(run, differentiates=True)


_CACHE_ATTRIBUTE = "_keras_lyapunov_forward_cache"


def cached_statistic(model, measured_at, target_norm):
    """The compiled norm statistic for this model, head and score (see :func:`cached`)."""
    return cached(model, ("norm", measured_at, target_norm is None),
                  lambda: compiled_statistic(model, target_norm))


def cached_trial_loss(model, loss, steps, learning_rate):
    """The compiled :func:`trial_loss` for this model and settings (see :func:`cached`)."""
    try:
        hash(loss)
        key = loss  # the loss itself, kept alive by the key, so its id is never reused
    except TypeError:
        key = id(loss)
    return cached(model, ("loss", key, steps, learning_rate),
                  lambda: trial_loss(model, loss, steps, learning_rate))


def cached(model, settings, make):
    """The compiled function ``make()`` for this model and settings, traced once.

    Kept on the model (outside Keras's attribute tracking) and keyed by the
    backend, the settings and the model's variables, so a later selection on
    the same model does not trace again, and any change of the model's
    variables makes a new one.
    """
    cache = model.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = {}
        object.__setattr__(model, _CACHE_ATTRIBUTE, cache)
    key = (keras.backend.backend(), settings, tuple(id(v) for v in model.variables))
    if key not in cache:
        structure = key[2]
        for stale in [old for old in cache if old[2] != structure]:
            del cache[stale]  # entries of the model's earlier structure
        cache[key] = make()
    return cache[key]
