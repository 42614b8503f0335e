"""The score of a sampled selection, all of it: names, defaults, resolution, statistics, trial.

A candidate's *score* (lower is better) is one of :data:`SCORES`:

- ``"loss"``: the model's training loss on one batch after a few steps of its
  own train step (:mod:`keras_lyapunov._trials`), every variable given back;
- ``"scale-free"``: ``|mean over probes of log(||N(x)|| / ||x||)|``;
- ``"target-norm"``: the paper's ``|log(mean ||N(x)||) - log(target_norm)|``;
- ``"auto"``: resolved by :func:`resolve_score` from what is at hand.

Norm scores measure the output *before* a saturating output activation
(softmax, sigmoid, tanh, ...), whose squashing would hide the signal a
classifier head receives (:func:`linear_head`). :func:`scorer` turns a resolved
score into one compiled statistic and its distance to the target; each
compiled function is traced once per model and kept on the model (:func:`cached`).

This module (with :mod:`keras_lyapunov._trials`) is also the documented internal
interface of the project's benchmarks (``benchmarks/trainability.py``,
``benchmarks/selection.py``): they measure the scores through :func:`scorer` and
``_trials.TrainStepTrial``, never through copies of them.
"""

import contextlib
import dataclasses
import math
from collections.abc import Callable

import keras

from keras_lyapunov import _validation
from keras_lyapunov._forward import compiled_forward, variable_values
from keras_lyapunov._probes import log_norms, require_nonzero_rows

SCORES = ("auto", "loss", "scale-free", "target-norm")
NORM_SCORES = ("scale-free", "target-norm")
# The label-free fallback of "auto": the best label-free score of the trainability study.
LABEL_FREE_SCORE = "target-norm"
DEFAULT_TARGET_NORM = 1.0  # of "target-norm" when no target_norm is given

SATURATING_ACTIVATIONS = (
    "softmax", "log_softmax", "sigmoid", "hard_sigmoid", "tanh", "softsign",
    "hard_tanh", "sparse_sigmoid",
)  # fmt: skip


# --------------------------------------------------------------------------
# Which score
# --------------------------------------------------------------------------


def resolve_score(score, *, target_norm, missing, probes):
    """The score to use, with ``"auto"`` resolved (a warning says when it falls back).

    Args:
        score: one of :data:`SCORES`.
        target_norm: the target of ``"target-norm"``, or None.
        missing: why the ``"loss"`` score cannot run here, in words (no labels,
            no compiled model, ...), or None when it can.
        probes: what the candidates are measured on, in words (for the warning).

    Returns:
        ``"loss"``, ``"scale-free"`` or ``"target-norm"``.

    Raises:
        ValueError: ``score="loss"`` where it cannot run.
    """
    if score == "loss":
        if missing is not None:
            raise ValueError(f"score='loss' cannot be used: {missing}.")
        return score
    if score != "auto":
        return score
    if target_norm is not None:
        return "target-norm"
    if missing is None:
        return "loss"
    _validation.warn(
        f"SampledLyapunov: {missing}, so candidates are scored by {LABEL_FREE_SCORE!r} "
        f"(target_norm={DEFAULT_TARGET_NORM:g}) on {probes}: the best label-free score of "
        "the trainability study, and weaker than the 'loss' score (the training loss after "
        "a few trial steps): on Fashion-MNIST it trained 68% of deep narrow orthogonal "
        "networks at k=10 against 79% for 'loss', and no more than unselected Gaussian "
        "ones. Pass score=... to choose a score and silence this warning.")
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


# --------------------------------------------------------------------------
# A scorer: the resolved score as one compiled statistic and its distance
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scorer:
    """A resolved score, ready for candidates.

    Attributes:
        score: ``"scale-free"`` or ``"target-norm"``.
        measured_at: where the output is measured, in words.
        statistic: ``() -> scalar tensor``: the statistic of the model's current weights.
        to_score: ``value -> float``: the statistic's score (lower is better).
    """

    score: str
    measured_at: str
    statistic: Callable
    to_score: Callable


@contextlib.contextmanager
def scorer(model, score, probes, *, target_norm=None):
    """Yields the :class:`Scorer` of a resolved norm score for ``model`` on ``probes``.

    Inside the block the model's saturating output activations are removed
    (:func:`linear_head`); they are restored on exit, also on an exception.
    (The ``"loss"`` score runs trials instead: :mod:`keras_lyapunov._trials`.)

    Args:
        model: a built Keras model.
        score: ``"scale-free"`` or ``"target-norm"``.
        probes: the probe inputs (a tensor).
        target_norm: the target of ``"target-norm"`` (None: :data:`DEFAULT_TARGET_NORM`).
    """
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
