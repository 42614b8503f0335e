"""Sampled Lyapunov initialization: keep the best of k candidate initializations.

At Lyapunov initialization the exponent is zero, yet the log output norm of a
deep network still spreads like ``sqrt(depth)`` (the paper's central limit
theorem, Thm 3.4; THEORY.md section 4): at width 10, depth 100 and slope 0.01
the output norm is typically off by a factor ``e**(+-4.8)``. Sampled Lyapunov
initialization (Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4) draws k
candidate initializations before training and keeps the one whose output norm
over the input distribution is closest to the target.

The score. By default it is scale-free: the mean over probe inputs of
``log(||N(x)|| / ||x||)``, and the chosen candidate is the one whose mean is
closest to 0, i.e. the network that on average neither shrinks nor amplifies
its inputs. This needs no knowledge of the data's scale and is exactly the
quantity the CLT describes. With ``target_norm=t`` the score follows the paper
literally: ``|log(mean ||N(x)||) - log(t)|``, the expected output norm closest to
``t`` (log-distance, so over- and undershooting count alike). Either way the
output is measured *before* a saturating output activation (softmax, sigmoid,
tanh, ...), whose squashing would hide the signal a classifier head receives.

Memory: candidates are re-drawn in place into the existing variables; only
their seeds are kept, and the best one is re-materialized at the end. One
on-device copy of the touched kernels is kept so that the original weights can
be restored exactly if anything goes wrong.
"""

import contextlib
import dataclasses
import inspect
import math
import numbers
import random as python_random
import warnings

import keras
import numpy as np

from keras_lyapunov.initializers import LYAPUNOV_INITIALIZERS, kernel_law
from keras_lyapunov.structure import slope_mismatches

__all__ = ["SampledLyapunov", "SelectionResult", "sample_initialization"]

SATURATING_ACTIVATIONS = (
    "softmax", "log_softmax", "sigmoid", "hard_sigmoid", "tanh", "softsign",
    "hard_tanh", "sparse_sigmoid",
)  # fmt: skip
DEFAULT_PROBE_RANGE = (0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class SelectionResult:
    """Outcome of a sampled selection.

    Attributes:
        scores: ``(k,)`` array of candidate scores (lower is better); ``inf``
            for candidates discarded because their output was not finite.
        log_gains: ``(k,)`` array of the statistic behind each score: the mean
            ``log(||N(x)|| / ||x||)`` (default) or ``log(mean ||N(x)||)`` (with
            ``target_norm``); ``nan`` for discarded candidates.
        chosen: index of the candidate kept, or ``None`` if none was.
        chosen_score: its score (``nan`` if none was kept).
        seed: the base seed every candidate seed derives from.
        seeds: the ``k`` candidate seeds.
        variables: paths of the variables that were re-initialized.
        measured_at: where the output was measured (e.g. before a softmax).
        skipped: why the weights were left as they were, or ``None``.
    """

    scores: np.ndarray
    log_gains: np.ndarray
    chosen: int | None
    chosen_score: float
    seed: int | None
    seeds: tuple
    variables: tuple
    measured_at: str
    skipped: str | None = None

    @property
    def selected(self):
        """True when a candidate was chosen and the weights now hold it."""
        return self.chosen is not None and self.skipped is None

    def summary(self):
        """A one-line human-readable summary."""
        if not self.selected:
            return f"SampledLyapunov: weights left unchanged ({self.skipped})."
        finite = self.scores[np.isfinite(self.scores)]
        discarded = len(self.scores) - len(finite)
        text = (
            f"SampledLyapunov: chose candidate {self.chosen} of {len(self.scores)} "
            f"(score {self.chosen_score:.4g}; scores min {finite.min():.4g}, "
            f"median {np.median(finite):.4g}, max {finite.max():.4g})"
        )
        if discarded:
            text += f"; {discarded} non-finite discarded"
        return text + f"; measured at {self.measured_at}."


# --------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------


def _validate_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}."
        )
    return int(value)


def _validate_verbose(verbose):
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={verbose!r}.")
    return int(verbose)


def _validate_seed(seed):
    if seed is None:
        return python_random.randint(1, 2**31 - 1)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"`seed` must be None or an integer >= 0. Received: seed={seed!r}."
        )
    return int(seed)


def _validate_target_norm(target_norm):
    if target_norm is None:
        return None
    if (
        isinstance(target_norm, bool)
        or not isinstance(target_norm, numbers.Real)
        or not 0 < target_norm < math.inf
    ):
        raise ValueError(
            "`target_norm` must be None (scale-free score) or a positive finite "
            f"number. Received: target_norm={target_norm!r}."
        )
    return float(target_norm)


def _validate_layers(layers):
    if layers in ("lyapunov", "all"):
        return layers
    if isinstance(layers, (list, tuple)) and layers and all(
        isinstance(item, (str, keras.layers.Layer)) for item in layers
    ):
        return tuple(layers)
    raise ValueError(
        '`layers` must be "lyapunov" (kernels built by a Lyapunov initializer), '
        '"all" (every trainable kernel with a seeded initializer) or a non-empty '
        f"list of layers or layer names. Received: layers={layers!r}."
    )


def _validate_probe_range(probe_range):
    message = (
        "`probe_range` must be a pair (low, high) of finite numbers with "
        f"low < high. Received: probe_range={probe_range!r}."
    )
    try:
        low, high = (float(v) for v in probe_range)
    except (TypeError, ValueError) as error:
        raise ValueError(message) from error
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(message)
    return low, high


# --------------------------------------------------------------------------
# Which kernels, and how a candidate is drawn
# --------------------------------------------------------------------------


def _all_layers(model):
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found


def _seeded(initializer):
    try:
        return "seed" in initializer.get_config()
    except (AttributeError, NotImplementedError, TypeError):
        return False


def _frozen(layer, model):
    """Whether the layer must not be touched.

    Keras propagates ``trainable = False`` from a container to all its
    sublayers, so the layer's own flag and the model's are enough.
    """
    if not layer.trainable:
        return True
    return not model.trainable


def _selected_kernels(model, layers):
    """[(layer, kernel variable, initializer)] in model order, frozen layers excluded."""
    chosen = []
    if isinstance(layers, tuple):
        wanted = [item.name if isinstance(item, keras.layers.Layer) else item for item in layers]
        known = {layer.name: layer for layer in _all_layers(model)}
        missing = [name for name in wanted if name not in known]
        if missing:
            raise ValueError(
                f"`layers` names layers the model does not have: {missing}. "
                f"Layers with kernels: {[n for n, l in known.items() if hasattr(l, 'kernel')]}."
            )
        candidates = [known[name] for name in wanted]
    else:
        candidates = _all_layers(model)
    for layer in candidates:
        kernel = getattr(layer, "kernel", None)
        initializer = getattr(layer, "kernel_initializer", None)
        if not isinstance(kernel, keras.Variable) or initializer is None:
            if isinstance(layers, tuple):
                raise ValueError(
                    f"`layers` includes {layer.name!r}, which has no kernel to re-sample."
                )
            continue
        if _frozen(layer, model) or not kernel.trainable:
            continue  # trainable=False layers are never touched
        if layers == "lyapunov" and not isinstance(initializer, LYAPUNOV_INITIALIZERS):
            continue
        if not isinstance(initializer, LYAPUNOV_INITIALIZERS) and not _seeded(initializer):
            if isinstance(layers, tuple):
                raise ValueError(
                    f"`layers` includes {layer.name!r}, whose kernel initializer "
                    f"{type(initializer).__name__} takes no seed, so it cannot draw "
                    "new candidates."
                )
            continue
        chosen.append((layer, kernel, initializer))
    return chosen


def _derive_seed(*entropy):
    """A 31-bit int seed, a deterministic function of the integers given."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0] >> 1)


class _CandidateDrawer:
    """Draws a candidate's kernels from its seed.

    Kernels of the same law, shape and dtype are drawn in one batched call: the
    Lyapunov initializers by class and slope (one QR for a whole stack of
    orthogonal kernels), untruncated centred Gaussians (RandomNormal,
    VarianceScaling "untruncated_normal") by standard deviation. Other seeded
    initializers are re-seeded one kernel at a time.
    """

    def __init__(self, kernels):
        self.groups = {}
        self.singles = []
        for _, kernel, initializer in kernels:
            shape, dtype = tuple(kernel.shape), kernel.dtype
            law = kernel_law(initializer, shape) if len(shape) == 2 else None
            if isinstance(initializer, LYAPUNOV_INITIALIZERS):
                key = (type(initializer), initializer.slope, shape, dtype)
            elif law is not None and law[0] == "normal":
                key = ("normal", law[1], shape, dtype)
            else:
                self.singles.append((kernel, initializer))
                continue
            self.groups.setdefault(key, []).append(kernel)

    @staticmethod
    def _draw_group(key, count, seed):
        kind, parameter, shape, dtype = key
        if kind == "normal":
            return keras.random.normal((count, *shape), stddev=parameter, dtype=dtype, seed=seed)
        return kind(slope=parameter, seed=seed).draw_batch(count, shape, dtype=dtype)

    def draw(self, candidate_seed):
        """One candidate: ``(batches, singles)``.

        ``batches[g]`` stacks the new values of ``list(self.groups.values())[g]``
        along axis 0; ``singles[i]`` is the new value of ``self.singles[i][0]``.
        """
        batches = [
            self._draw_group(key, len(kernels),
                             _derive_seed(candidate_seed, 2 if key[0] == "normal" else 0, index))
            for index, (key, kernels) in enumerate(self.groups.items())
        ]
        singles = []
        for index, (kernel, initializer) in enumerate(self.singles):
            config = dict(initializer.get_config(), seed=_derive_seed(candidate_seed, 1, index))
            fresh = type(initializer).from_config(config)
            singles.append(fresh(tuple(kernel.shape), dtype=kernel.dtype))
        return batches, singles

    def assign(self, candidate_seed):
        batches, singles = self.draw(candidate_seed)
        for kernels, batch in zip(self.groups.values(), batches):
            for kernel, value in zip(kernels, keras.ops.unstack(batch)):
                kernel.assign(value)
        for (kernel, _), value in zip(self.singles, singles):
            kernel.assign(value)


# --------------------------------------------------------------------------
# Probe inputs and the forward pass
# --------------------------------------------------------------------------


def _input_spec(model):
    inputs = getattr(model, "inputs", None)
    if inputs:
        if len(inputs) != 1:
            raise ValueError(
                "sampled selection supports single-input models; this model has "
                f"{len(inputs)} inputs."
            )
        return tuple(inputs[0].shape[1:]), inputs[0].dtype
    return None, None


def _take_probes(x, num_probes):
    """Up to `num_probes` rows of `x` (array, tensor, tf.data or any iterable)."""
    if isinstance(x, np.ndarray) or keras.ops.is_tensor(x) or hasattr(x, "__array__"):
        return np.asarray(keras.ops.convert_to_numpy(x))[:num_probes]
    if isinstance(x, (list, tuple)):
        return np.asarray(x)[:num_probes]
    try:
        iterator = iter(x)
    except TypeError as error:
        raise ValueError(
            "`x` must be an array, a tensor, a tf.data.Dataset or an iterable of "
            f"batches. Received: x of type {type(x).__name__}."
        ) from error
    rows, count = [], 0
    for batch in iterator:
        if isinstance(batch, (tuple, list)):
            batch = batch[0]  # (x, y) or (x, y, sample_weight)
        batch = np.asarray(keras.ops.convert_to_numpy(batch))
        rows.append(batch)
        count += len(batch)
        if count >= num_probes:
            break
    if not rows:
        raise ValueError("`x` yielded no batches to use as probe inputs.")
    return np.concatenate(rows)[:num_probes]


def _probe_inputs(model, x, num_probes, probe_range, seed):
    shape, dtype = _input_spec(model)
    if x is None:
        if shape is None or any(d is None for d in shape):
            raise ValueError(
                "`x` is required: the model's input shape is not known (a subclassed "
                "or unbuilt model). Pass probe inputs, e.g. a batch of training data."
            )
        low, high = probe_range
        return keras.random.uniform(
            (num_probes, *shape), minval=low, maxval=high, dtype=dtype or "float32",
            seed=_derive_seed(seed, 2),
        )
    probes = _take_probes(x, num_probes)
    if probes.dtype.kind not in "iuf" or probes.ndim < 2 or len(probes) == 0:
        raise ValueError(
            "`x` must hold a batch of numeric probe inputs of shape (batch, ...). "
            f"Received: array of shape {probes.shape} and dtype {probes.dtype}."
        )
    if shape is not None and not all(
        expected is None or expected == got for expected, got in zip(shape, probes.shape[1:])
    ) or shape is not None and len(shape) != probes.ndim - 1:
        raise ValueError(
            f"`x` has per-sample shape {probes.shape[1:]}, but the model expects {shape}."
        )
    if not np.all(np.isfinite(probes)):
        raise ValueError("`x` contains NaN or infinite values; probe inputs must be finite.")
    norms = np.linalg.norm(probes.reshape(len(probes), -1), axis=1)
    if np.any(norms == 0):
        raise ValueError(
            "`x` contains an all-zero probe input; the scale-free score divides by ||x||."
        )
    return keras.ops.convert_to_tensor(probes, dtype=dtype or keras.config.floatx())


def _output_layer(model):
    """The layer that produces the model's (first) output, if it can be known."""
    if isinstance(model, keras.Sequential):
        return model.layers[-1] if model.layers else None
    outputs = getattr(model, "outputs", None)
    if outputs:
        history = getattr(outputs[0], "_keras_history", None)
        if history is not None:
            return history[0]
    return None


def _activation_name(function):
    return getattr(function, "__name__", type(function).__name__).lower()


@contextlib.contextmanager
def _linear_head(model):
    """Temporarily removes a saturating output activation; yields a description."""
    layer = _output_layer(model)
    if layer is not None and isinstance(layer, keras.layers.Softmax):
        original = layer.__dict__.get("call")
        object.__setattr__(layer, "call", lambda inputs, mask=None: inputs)
        try:
            yield f"the input of {layer.name!r} (softmax)"
        finally:
            if original is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", original)
        return
    activation = getattr(layer, "activation", None) if layer is not None else None
    if activation is not None and _activation_name(activation) in SATURATING_ACTIVATIONS:
        name = _activation_name(activation)
        layer.activation = keras.activations.linear
        try:
            yield f"the pre-activation of {layer.name!r} (before its {name})"
        finally:
            layer.activation = activation
        return
    yield "the model output"


def _compiled_statistic(model, target_norm):
    """One compiled function probes -> score statistic, reused for every candidate."""

    def statistic(outputs, log_input_norms):
        return _statistic(outputs, log_input_norms, target_norm)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(
            lambda x, log_norms: statistic(model(x, training=False), log_norms),
            reduce_retracing=True,
        )
    if backend == "jax":
        import jax

        # stateless_call hands its keywords to call() as they are, unlike
        # __call__, which drops `training` when call() does not take it.
        parameters = inspect.signature(model.call).parameters
        takes_training = "training" in parameters or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        kwargs = {"training": False} if takes_training else {}

        @jax.jit
        def stateless(trainable, non_trainable, x, log_norms):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, **kwargs)
            return statistic(outputs, log_norms)

        return lambda x, log_norms: stateless(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            x,
            log_norms,
        )
    if backend == "torch":
        import torch

        def forward(x, log_norms):
            with torch.no_grad():
                return statistic(model(x, training=False), log_norms)

        return forward
    return lambda x, log_norms: statistic(model(x, training=False), log_norms)


_FORWARD_CACHE_ATTRIBUTE = "_keras_lyapunov_forward_cache"


def _cached_statistic(model, measured_at, target_norm):
    """The compiled statistic for this model, head and score, traced once per model.

    Kept on the model (outside Keras's attribute tracking) and keyed by the
    backend, the measured head and the model's variables, so a later selection
    on the same model does not trace again, and any change of the model's
    variables makes a new one.
    """
    cache = model.__dict__.get(_FORWARD_CACHE_ATTRIBUTE)
    if cache is None:
        cache = {}
        object.__setattr__(model, _FORWARD_CACHE_ATTRIBUTE, cache)
    key = (keras.backend.backend(), measured_at, target_norm is None,
           tuple(id(v) for v in model.variables))
    if key not in cache:
        cache.clear()  # one entry per model: the model's current structure
        cache[key] = _compiled_statistic(model, target_norm)
    return cache[key]


def log_norms(tensors):
    """``log ||y_i||`` per sample of one tensor or of several joined, as float32.

    Scaled by the largest entry first, so outputs far below float32's range of
    squares (``||y|| < 1e-19``) keep a finite log; ``-inf`` only for ``y_i = 0``.
    """
    ops = keras.ops
    flat = []
    for y in keras.tree.flatten(tensors):
        if y.dtype in ("float16", "bfloat16") or "int" in str(y.dtype):
            y = ops.cast(y, "float32")
        flat.append(ops.reshape(y, (ops.shape(y)[0], -1)))
    flat = ops.concatenate(flat, axis=1) if len(flat) > 1 else flat[0]
    largest = ops.max(ops.abs(flat), axis=1)
    unit = ops.where(largest > 0, largest, ops.ones_like(largest))
    result = ops.log(largest) + ops.log(ops.norm(flat / ops.expand_dims(unit, 1), axis=1))
    return ops.cast(result, "float32")


def _statistic(outputs, log_input_norms, target_norm):
    """The score's statistic as a backend scalar (see module docstring)."""
    ops = keras.ops
    logs = log_norms(outputs)  # several outputs: one joint norm
    if target_norm is None:
        return ops.mean(logs - log_input_norms)
    largest = ops.max(logs)  # log of the mean norm, without overflow
    return largest + ops.log(ops.mean(ops.exp(logs - largest)))


# --------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------


def _already_trained(model):
    optimizer = getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    if iterations is not None and int(keras.ops.convert_to_numpy(iterations)) > 0:
        return "the model has already trained (optimizer.iterations > 0)"
    if getattr(model, "_initial_epoch", None):
        return "the fit resumes from a backup (initial_epoch > 0)"
    return None


def _skipped_result(seed, reason):
    return SelectionResult(
        scores=np.zeros(0), log_gains=np.zeros(0), chosen=None, chosen_score=math.nan,
        seed=seed, seeds=(), variables=(), measured_at="", skipped=reason,
    )


def _restore(backup):
    for variable, value in backup:
        variable.assign(value)


def _select(model, x, k, seed, layers, num_probes, target_norm, probe_range, verbose):
    """Runs the selection; returns (result, backup of the original kernels or None)."""
    k = _validate_positive_int(k, "k")
    num_probes = _validate_positive_int(num_probes, "num_probes")
    layers = _validate_layers(layers)
    target_norm = _validate_target_norm(target_norm)
    probe_range = _validate_probe_range(probe_range)
    verbose = _validate_verbose(verbose)
    seed = _validate_seed(seed)

    reason = _already_trained(model)
    if reason is not None:
        warnings.warn(f"SampledLyapunov did not re-sample: {reason}; every weight is "
                      "left untouched.", UserWarning, stacklevel=3)
        return _skipped_result(seed, reason), None
    if not model.built:
        if x is None:
            raise ValueError("`x` is required to build an unbuilt model before sampling.")
        model(_take_probes(x, 1))

    for message in slope_mismatches(model):
        warnings.warn(message, UserWarning, stacklevel=3)
    kernels = _selected_kernels(model, layers)
    if not kernels:
        raise ValueError(
            f"No kernel to re-sample with layers={layers!r}: the model has no trainable "
            "layer whose kernel comes from LyapunovNormal or LyapunovOrthogonal. Use "
            'layers="all" or a list of layers to re-sample other seeded initializers.'
        )
    probes = _probe_inputs(model, x, num_probes, probe_range, seed)
    ops = keras.ops
    log_input_norms = log_norms(probes)
    log_target = 0.0 if target_norm is None else math.log(target_norm)

    drawer = _CandidateDrawer(kernels)
    variables = tuple(kernel.path for _, kernel, _ in kernels)
    seeds = tuple(_derive_seed(seed, 3, i) for i in range(k))
    scores = np.full(k, np.inf)
    log_gains = np.full(k, np.nan)
    backup = [(kernel, ops.copy(kernel.value)) for _, kernel, _ in kernels]
    progbar = keras.utils.Progbar(k, verbose=verbose, unit_name="candidate") if verbose else None
    try:
        with _linear_head(model) as measured_at:
            score = _cached_statistic(model, measured_at, target_norm)
            for i, candidate_seed in enumerate(seeds):
                drawer.assign(candidate_seed)
                value = float(ops.convert_to_numpy(score(probes, log_input_norms)))
                if math.isfinite(value):
                    log_gains[i] = value
                    scores[i] = abs(value - log_target)
                if progbar is not None:
                    progbar.update(i + 1, values=[("score", scores[i])])
        if not np.any(np.isfinite(scores)):
            _restore(backup)
            warnings.warn(
                f"SampledLyapunov: all {k} candidates gave non-finite outputs; the "
                "original weights are kept.", UserWarning, stacklevel=3)
            result = SelectionResult(
                scores=scores, log_gains=log_gains, chosen=None, chosen_score=math.nan,
                seed=seed, seeds=seeds, variables=variables,
                measured_at=measured_at, skipped="every candidate was non-finite")
            return result, None
        chosen = int(np.argmin(scores))  # first of equal minima
        if chosen != k - 1:  # the variables still hold the last candidate drawn
            drawer.assign(seeds[chosen])  # re-materialize the winner from its seed
    except BaseException:
        _restore(backup)
        raise
    result = SelectionResult(
        scores=scores, log_gains=log_gains, chosen=chosen,
        chosen_score=float(scores[chosen]), seed=seed, seeds=seeds,
        variables=variables, measured_at=measured_at)
    if verbose:
        print(result.summary())
    return result, backup


def sample_initialization(
    model,
    x=None,
    *,
    k=10,
    seed=None,
    layers="lyapunov",
    num_probes=256,
    target_norm=None,
    probe_range=DEFAULT_PROBE_RANGE,
    verbose=0,
):
    """Sampled Lyapunov initialization of a built Keras model, in place.

    Draws ``k`` candidate initializations of the selected kernels, each from its
    own seed derived deterministically from ``seed``, scores each on probe
    inputs, and leaves the model holding the best one (the lowest score; the
    first of equal minima). See the module docstring for the score.

    Args:
        model: a Keras model (Sequential, Functional or subclassed) with one input.
        x: probe inputs: an array or tensor of shape ``(batch, ...)``, or a
            tf.data.Dataset / iterable of batches (``(x, y)`` pairs allowed); the
            first ``num_probes`` samples are used. If omitted, probes are drawn
            uniformly from ``probe_range`` on the model's input shape (the
            paper's choice, "uniform on the input values", for inputs in [0, 1]).
        k: number of candidates, an integer >= 1 (the paper uses O(sqrt(depth))).
        seed: None or an integer >= 0. The same seed gives bit-identical chosen
            weights, also in a new process, on a given backend.
        layers: ``"lyapunov"`` (default): kernels built by LyapunovNormal or
            LyapunovOrthogonal; ``"all"``: every trainable kernel whose
            initializer takes a seed; or a list of layers or layer names.
            Layers with ``trainable=False`` are never touched.
        num_probes: number of probe samples (default 256).
        target_norm: None for the scale-free score, or the output norm to aim at.
        probe_range: ``(low, high)`` of the default uniform probes.
        verbose: 0 silent, 1 or 2 a progress bar over candidates and a summary.

    Returns:
        A :class:`SelectionResult`.

    Raises:
        ValueError: for invalid arguments or probes (naming the argument).

    If the model has already trained (``optimizer.iterations > 0``), nothing is
    changed and a warning is issued. On any exception the original weights are
    restored exactly; candidates with non-finite outputs are discarded, and if
    all are, the original weights are kept (with a warning).

    Example:
        >>> result = sample_initialization(model, x_train[:256], k=10, seed=0)
        >>> result.chosen, result.chosen_score

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4 (Sampled
    Lyapunov initialization) and Thm 3.4.
    """
    result, _ = _select(model, x, k, seed, layers, num_probes, target_norm,
                        probe_range, verbose)
    return result


@keras.saving.register_keras_serializable(package="keras_lyapunov")
class SampledLyapunov(keras.callbacks.Callback):
    """Callback running Sampled Lyapunov initialization before training.

    ``model.fit(x, y, callbacks=[SampledLyapunov(k=10)])`` selects the best of
    ``k`` candidate initializations in ``on_train_begin`` (see
    :func:`sample_initialization`) and keeps the outcome in ``self.result``.

    Nothing is lost: a model that has already trained is not re-sampled. A fit
    that resumes at ``initial_epoch > 0`` is not visible to callbacks in
    ``on_train_begin`` (Keras does not pass it), so the original kernels are
    kept until the first ``on_epoch_begin``: if that epoch is not 0 they are
    restored exactly, with a warning, before any training step.

    Args:
        k: number of candidates (integer >= 1).
        x: probe inputs (see :func:`sample_initialization`); default: uniform
            probes on the model's input shape.
        seed: None or an integer >= 0.
        verbose: 0 silent, 1 (default) a progress bar and a summary line.
        layers, num_probes, target_norm, probe_range: as in
            :func:`sample_initialization`.

    ``get_config`` holds every argument but ``x`` (data is not configuration);
    layer objects given in ``layers`` are stored by name.

    Example:
        >>> model.fit(x, y, callbacks=[SampledLyapunov(k=10, seed=0)])

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4.
    """

    def __init__(self, k=10, x=None, seed=None, verbose=1, layers="lyapunov",
                 num_probes=256, target_norm=None, probe_range=DEFAULT_PROBE_RANGE):
        super().__init__()
        self.k = _validate_positive_int(k, "k")
        self.num_probes = _validate_positive_int(num_probes, "num_probes")
        self.layers = _validate_layers(layers)
        self.target_norm = _validate_target_norm(target_norm)
        self.probe_range = _validate_probe_range(probe_range)
        self.verbose = _validate_verbose(verbose)
        if seed is not None:
            _validate_seed(seed)
        self.seed = seed
        self.x = x
        self.result = None
        self._backup = None

    def on_train_begin(self, logs=None):
        self.result, self._backup = _select(
            self.model, self.x, self.k, self.seed, self.layers, self.num_probes,
            self.target_norm, self.probe_range, self.verbose)

    def on_epoch_begin(self, epoch, logs=None):
        backup, self._backup = self._backup, None
        if backup is not None and epoch > 0:
            _restore(backup)
            reason = f"the fit resumes at initial_epoch={epoch}"
            self.result = dataclasses.replace(self.result, chosen=None, skipped=reason)
            warnings.warn(f"SampledLyapunov did not re-sample: {reason}; the original "
                          "weights were restored before training.", UserWarning)

    def on_train_end(self, logs=None):
        self._backup = None

    def get_config(self):
        layers = self.layers
        if isinstance(layers, tuple):
            layers = [item.name if isinstance(item, keras.layers.Layer) else item
                      for item in layers]
        return {
            "k": self.k, "seed": self.seed, "verbose": self.verbose, "layers": layers,
            "num_probes": self.num_probes, "target_norm": self.target_norm,
            "probe_range": list(self.probe_range),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
