"""The score of a sampled selection, all of it: names, defaults, resolution, statistics, trial.

A candidate's *score* (lower is better) is one of :data:`SCORES`:

- ``"loss"``: the model's own loss on the labelled probes after ``trial_steps``
  full-batch AdamW trial steps from the candidate (:func:`trial_loss`), in a
  stateless copy of the weights;
- ``"scale-free"``: ``|mean over probes of log(||N(x)|| / ||x||)|``;
- ``"target-norm"``: the paper's ``|log(mean ||N(x)||) - log(target_norm)|``;
- ``"auto"``: resolved by :func:`resolve_score` from what is at hand.

Norm scores measure the output *before* a saturating output activation
(softmax, sigmoid, tanh, ...), whose squashing would hide the signal a
classifier head receives (:func:`linear_head`). :func:`scorer` turns a resolved
score into one compiled statistic and its distance to the target; each
compiled function is traced once per model and kept on the model (:func:`cached`).

This module is also the documented internal interface of the project's
benchmarks (``benchmarks/trainability.py``, ``benchmarks/selection.py``): they
measure the scores through :func:`compiled_statistic`, :func:`trial_losses` and
:func:`scorer`, never through copies of them.
"""

import contextlib
import dataclasses
import inspect
import math
from collections.abc import Callable

import keras

from keras_lyapunov import _validation
from keras_lyapunov._forward import (
    compile_function,
    compiled_forward,
    stateless_outputs,
    value_and_gradients,
    variable_values,
)
from keras_lyapunov._probes import log_norms, require_nonzero_rows

SCORES = ("auto", "loss", "scale-free", "target-norm")
NORM_SCORES = ("scale-free", "target-norm")
# The label-free fallback of "auto": the best label-free score of the trainability study.
LABEL_FREE_SCORE = "target-norm"
DEFAULT_TARGET_NORM = 1.0  # of "target-norm" when no target_norm is given
DEFAULT_TRIAL_STEPS = 5
DEFAULT_TRIAL_LEARNING_RATE = 1e-3

TRIAL_OPTIMIZER = {  # the trial's AdamW: Keras's defaults, read from Keras itself
    name: parameter.default
    for name, parameter in inspect.signature(keras.optimizers.AdamW).parameters.items()
    if name in ("weight_decay", "beta_1", "beta_2", "epsilon")
}

SATURATING_ACTIVATIONS = (
    "softmax", "log_softmax", "sigmoid", "hard_sigmoid", "tanh", "softsign",
    "hard_tanh", "sparse_sigmoid",
)  # fmt: skip


# --------------------------------------------------------------------------
# Which score
# --------------------------------------------------------------------------


def model_loss(model, loss):
    """The loss the ``"loss"`` score trains and measures (``loss``, else the compiled one), or None."""
    loss = loss if loss is not None else getattr(model, "loss", None)
    if isinstance(loss, (list, tuple, dict)):
        if len(loss) != 1:
            raise ValueError(
                "score='loss' supports a single loss; this model has several "
                f"({len(loss)}). Pass `loss=` (one loss for the one output) or choose "
                "another score.")
        loss = next(iter(loss.values())) if isinstance(loss, dict) else loss[0]
    return loss


def resolve_score(score, *, target_norm, labels, loss):
    """The score to use, with ``"auto"`` resolved (a warning says when it falls back).

    Args:
        score: one of :data:`SCORES`.
        target_norm: the target of ``"target-norm"``, or None.
        labels: the probes' labels, or None.
        loss: the loss (:func:`model_loss`), or None.

    Returns:
        ``"loss"``, ``"scale-free"`` or ``"target-norm"``.

    Raises:
        ValueError: ``score="loss"`` without labels or without a loss.
    """
    if score == "loss":
        if labels is None:
            raise ValueError(
                "score='loss' needs labels: pass `y` (one label per probe), or `x` as "
                "(x, y) batches.")
        if loss is None:
            raise ValueError("score='loss' needs a loss: compile the model first, or pass "
                             "`loss=` (a Keras loss name, function or Loss).")
        return score
    if score != "auto":
        return score
    if target_norm is not None:
        return "target-norm"
    if labels is not None and loss is not None:
        return "loss"
    missing = ("no loss (compile the model first, or pass `loss=`)" if labels is not None
               else "no labels (pass `y`, or (x, y) batches as `x`)")
    _validation.warn(
        f"SampledLyapunov: {missing}, so candidates are scored by {LABEL_FREE_SCORE!r} "
        f"(target_norm={DEFAULT_TARGET_NORM:g}), the best label-free score of the "
        "trainability study and weaker than the 'loss' score (the loss after a few trial "
        "steps on labelled probes): on Fashion-MNIST it trained 68% of deep narrow "
        "orthogonal networks at k=10 against 79% for 'loss', and no more than unselected "
        "Gaussian ones. Pass score=... to choose a score and silence this warning.")
    return LABEL_FREE_SCORE


# --------------------------------------------------------------------------
# Where the output is measured
# --------------------------------------------------------------------------


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
    inside the block, and is restored on exit, also on an exception. A recurrent
    output layer (LSTM, GRU, SimpleRNN) is measured as it is: its activation acts
    on the cell's state, not on the output.
    """
    with contextlib.ExitStack() as stack:
        described = []
        for layer in output_layers(model):
            activation = getattr(layer, "activation", None)
            if isinstance(layer, keras.layers.Softmax):
                described.append(stack.enter_context(_softmax_layer_as_identity(layer)))
            elif isinstance(layer, keras.layers.RNN):
                # An RNN's activation acts inside its cell on the state (and has no
                # setter); the output is not a squashed pre-activation: measured as it is.
                described.append(f"the output of {layer.name!r} (a recurrent layer, as it is)")
            elif activation is not None and activation_name(activation) in SATURATING_ACTIVATIONS:
                described.append(stack.enter_context(
                    _linear_activation(layer, activation_name(activation))))
        yield " and ".join(described) if described else "the model output"


# --------------------------------------------------------------------------
# The statistics
# --------------------------------------------------------------------------


def score_statistic(outputs, log_input_norms, score):
    """The statistic behind a norm score, as a backend scalar.

    Args:
        outputs: the model's outputs on the probes (several outputs: one joint norm).
        log_input_norms: ``log ||x_i||`` of the probes.
        score: ``"scale-free"``: the mean of ``log(||N(x)|| / ||x||)``;
            ``"target-norm"``: ``log(mean ||N(x)||)``, whose distance to
            ``log(target_norm)`` is the paper's score.

    Returns:
        A scalar tensor.
    """
    ops = keras.ops
    logs = log_norms(outputs)  # several outputs: one joint norm
    if score == "scale-free":
        return ops.mean(logs - log_input_norms)
    largest = ops.max(logs)  # log of the mean norm, without overflow
    return largest + ops.log(ops.mean(ops.exp(logs - largest)))


def compiled_statistic(model, score):
    """One compiled ``(trainable, non_trainable, probes, log_input_norms) -> statistic``."""
    return compiled_forward(
        model, lambda outputs, log_input_norms: score_statistic(
            outputs, log_input_norms, score))


def mean_loss(loss):
    """``(y_true, y_pred) -> scalar``: a Keras loss (name, function or Loss), averaged."""
    function = keras.losses.get(loss)
    return lambda y_true, y_pred: keras.ops.mean(function(y_true, y_pred))


def _adamw_trial(model, loss, learning_rate, weight_decay):
    """``(loss_of, step)``: the trial's loss and one AdamW step, on local copies.

    ``step(index, (weights, first, second), non_trainable, probes, labels)`` is
    step ``index + 1`` of full-batch AdamW (Keras's defaults, constant
    ``learning_rate``, decoupled ``weight_decay``).
    """
    ops = keras.ops
    loss = mean_loss(loss)
    beta_1, beta_2, epsilon = (TRIAL_OPTIMIZER[name] for name in ("beta_1", "beta_2", "epsilon"))

    def loss_of(trainable, non_trainable, probes, labels):
        return loss(labels, stateless_outputs(model, trainable, non_trainable, probes))

    gradients_of = value_and_gradients(loss_of)

    def step(index, state, non_trainable, probes, labels):
        weights, first, second = state
        _, gradients = gradients_of(weights, non_trainable, probes, labels)
        t = ops.cast(index + 1, "float32")
        rate = learning_rate * ops.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)
        first = [beta_1 * m + (1.0 - beta_1) * g for m, g in zip(first, gradients)]
        second = [beta_2 * v + (1.0 - beta_2) * g * g for v, g in zip(second, gradients)]
        weights = [w - learning_rate * weight_decay * w - rate * m / (ops.sqrt(v) + epsilon)
                   for w, m, v in zip(weights, first, second)]
        return weights, first, second

    return loss_of, step


def trial_loss(model, loss, steps, learning_rate,
               weight_decay=TRIAL_OPTIMIZER["weight_decay"]):
    """One compiled ``(trainable, non_trainable, probes, labels) -> loss after the steps``.

    The trial takes ``steps`` full-batch AdamW steps on the labelled probes
    from the given weights (Keras's AdamW defaults; constant ``learning_rate``,
    decoupled ``weight_decay``) and returns the mean loss on the probes after
    them; ``steps = 0`` is the initial loss. Every value is a local copy: no
    variable of the model, and no optimizer, is read or changed. The forward
    pass is inference (``training=False``: no dropout, no statistics updated).
    Idea from GradInit (Zhu et al. 2021, "loss after one step"); five steps is
    the default the trainability study chose.
    """
    loss_of, step = _adamw_trial(model, loss, learning_rate, weight_decay)

    def run(trainable, non_trainable, probes, labels):
        weights = list(trainable)
        if steps:
            zeros = [keras.ops.zeros_like(w) for w in weights]
            weights, _, _ = keras.ops.fori_loop(
                0, steps, lambda index, state: step(index, state, non_trainable, probes, labels),
                (weights, zeros, list(zeros)))
        return loss_of(weights, non_trainable, probes, labels)

    return compile_function(run, differentiates=True)


def trial_losses(model, loss, steps, learning_rate,
                 weight_decay=TRIAL_OPTIMIZER["weight_decay"]):
    """The trial of :func:`trial_loss`, with the loss after every step, on two batches.

    Returns one compiled ``(trainable, non_trainable, probes, labels, x_other,
    y_other) -> (probe_losses, other_losses)``: two ``(steps + 1,)`` tensors,
    entry ``s`` the mean loss after ``s`` trial steps (taken on the probes), on
    the probes and on the other batch (e.g. held-out data). Entry ``steps`` of
    ``probe_losses`` is what :func:`trial_loss` returns, up to float rounding.
    """
    ops = keras.ops
    loss_of, step = _adamw_trial(model, loss, learning_rate, weight_decay)

    def run(trainable, non_trainable, probes, labels, x_other, y_other):
        def measure_then_step(index, state):
            weights, first, second, losses = state
            measured = ops.stack([loss_of(weights, non_trainable, probes, labels),
                                  loss_of(weights, non_trainable, x_other, y_other)])
            # row `index` of the losses (a one-hot sum: the same on every backend)
            losses = losses + ops.expand_dims(ops.one_hot(index, steps + 1), 1) * measured
            return (*step(index, (weights, first, second), non_trainable, probes, labels),
                    losses)

        weights = list(trainable)
        zeros = [ops.zeros_like(w) for w in weights]
        *_, losses = ops.fori_loop(0, steps + 1, measure_then_step,
                                   (weights, zeros, list(zeros), ops.zeros((steps + 1, 2))))
        return losses[:, 0], losses[:, 1]

    return compile_function(run, differentiates=True)


# --------------------------------------------------------------------------
# A scorer: the resolved score as one compiled statistic and its distance
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scorer:
    """A resolved score, ready for candidates.

    Attributes:
        score: ``"loss"``, ``"scale-free"`` or ``"target-norm"``.
        measured_at: where the output is measured, in words.
        statistic: ``() -> scalar tensor``: the statistic of the model's current weights.
        to_score: ``value -> float``: the statistic's score (lower is better).
    """

    score: str
    measured_at: str
    statistic: Callable
    to_score: Callable


@contextlib.contextmanager
def scorer(model, score, probes, labels=None, loss=None, *, target_norm=None,
           trial_steps=DEFAULT_TRIAL_STEPS, trial_learning_rate=DEFAULT_TRIAL_LEARNING_RATE):
    """Yields the :class:`Scorer` of a resolved score for ``model`` on ``probes``.

    Inside the block the model's saturating output activations are removed for
    the norm scores (:func:`linear_head`); they are restored on exit, also on an
    exception.

    Args:
        model: a built Keras model.
        score: ``"loss"``, ``"scale-free"`` or ``"target-norm"`` (see :func:`resolve_score`).
        probes: the probe inputs (a tensor).
        labels, loss: the probes' labels and the loss (``"loss"`` only).
        target_norm: the target of ``"target-norm"`` (None: :data:`DEFAULT_TARGET_NORM`).
        trial_steps, trial_learning_rate: the trial of ``"loss"``.
    """
    if score == "loss":
        trial = cached(model, ("loss", _loss_key(loss), trial_steps, trial_learning_rate),
                       lambda: trial_loss(model, loss, trial_steps, trial_learning_rate))
        yield Scorer(
            score, f"the loss on the {len(probes)} labelled probes after {trial_steps} "
            "trial AdamW steps",
            lambda: trial(*variable_values(model), probes, labels), lambda value: value)
        return
    if score == "scale-free":
        require_nonzero_rows(probes, "the scale-free score divides by ||x||")
    log_target = (math.log(target_norm or DEFAULT_TARGET_NORM) if score == "target-norm"
                  else 0.0)
    log_input_norms = log_norms(probes)
    with linear_head(model) as measured_at:
        statistic = cached(model, ("norm", measured_at, score),
                           lambda: compiled_statistic(model, score))
        yield Scorer(score, measured_at,
                     lambda: statistic(*variable_values(model), probes, log_input_norms),
                     lambda value: abs(value - log_target))


# --------------------------------------------------------------------------
# The compiled functions, kept on the model
# --------------------------------------------------------------------------

_CACHE_ATTRIBUTE = "_keras_lyapunov_forward_cache"


def _loss_key(loss):
    try:
        hash(loss)
        return loss  # the loss itself, kept alive by the key, so its id is never reused
    except TypeError:
        return id(loss)


def cached(model, key, make):
    """The compiled function ``make()`` for this model and ``key``, traced once.

    Kept on the model (outside Keras's attribute tracking) and keyed by the
    backend, ``key`` (what the function computes) and the model's variables, so
    a later selection on the same model does not trace again, and any change of
    the model's variables makes a new one.
    """
    cache = model.__dict__.get(_CACHE_ATTRIBUTE)
    if cache is None:
        cache = {}
        object.__setattr__(model, _CACHE_ATTRIBUTE, cache)
    key = (keras.backend.backend(), key, tuple(id(v) for v in model.variables))
    if key not in cache:
        structure = key[2]
        for stale in [old for old in cache if old[2] != structure]:
            del cache[stale]  # entries of the model's earlier structure
        cache[key] = make()
    return cache[key]
