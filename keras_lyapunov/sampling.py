"""Sampled Lyapunov initialization: keep the best of k candidate initializations.

At Lyapunov initialization the exponent is zero, yet the log output norm of a
deep network still spreads like ``sqrt(depth)`` (the paper's central limit
theorem, Thm 3.4; docs/theory.md section 4): at width 10, depth 100 and slope 0.01
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

import dataclasses
import math
import warnings

import keras
import numpy as np

from keras_lyapunov import _provenance, _seeds, _validation
from keras_lyapunov._candidates import (
    KERNEL_VARIABLES,
    CandidateDrawer,
    selected_kernels,
    unselected_seeded_variables,
)
from keras_lyapunov._forward import variable_values
from keras_lyapunov._probes import DEFAULT_PROBE_RANGE, log_norms, probe_inputs, take_probes
from keras_lyapunov._scores import cached_statistic, linear_head
from keras_lyapunov._seeds import derive_seed
from keras_lyapunov.structure import slope_mismatches

__all__ = ["SampledLyapunov", "SelectionResult", "SelectionSettings", "sample_initialization"]


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


@dataclasses.dataclass(frozen=True)
class SelectionSettings:
    """The settings of a sampled selection, validated once when made.

    Shared by :func:`sample_initialization` and :class:`SampledLyapunov`
    (whose ``get_config`` is :meth:`config`). Every field is checked and
    normalized in ``__post_init__``; a bad value raises a ``ValueError`` that
    names the argument and its valid range.

    Attributes:
        k: number of candidates, an integer >= 1.
        seed: None (a fresh random base seed per selection) or an integer >= 0.
        layers: ``"lyapunov"``, ``"all"``, or a tuple of layers / layer names.
        num_probes: number of probe samples, an integer >= 1.
        target_norm: None (scale-free score) or a positive finite output norm.
        probe_range: ``(low, high)`` of the default uniform probes.
        verbose: 0 silent, 1 or 2 a progress bar and a summary.

    Example:
        >>> SelectionSettings(k=10, seed=0).config()["k"]
        10
    """

    k: int = 10
    seed: int | None = None
    layers: object = "lyapunov"
    num_probes: int = 256
    target_norm: float | None = None
    probe_range: tuple = DEFAULT_PROBE_RANGE
    verbose: int = 0

    def __post_init__(self):
        checked = {
            "k": _validation.integer(self.k, "k"),
            "seed": _validation.optional_seed(self.seed),
            "layers": _validate_layers(self.layers),
            "num_probes": _validation.integer(self.num_probes, "num_probes"),
            "target_norm": None if self.target_norm is None else _validation.positive_finite(
                self.target_norm, "target_norm",
                what="None (scale-free score) or a positive finite number"),
            "probe_range": _validation.interval(self.probe_range, "probe_range"),
            "verbose": _validation.one_of(self.verbose, "verbose", (0, 1, 2)),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def config(self):
        """The settings as a JSON-ready dict (layer objects stored by name)."""
        config = dataclasses.asdict(self)
        if isinstance(self.layers, tuple):
            config["layers"] = [item.name if isinstance(item, keras.layers.Layer) else item
                                for item in self.layers]
        config["probe_range"] = list(self.probe_range)
        return config


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


def _skipped(seed, reason):
    """Warns that nothing was re-sampled, and why; the result says the same."""
    warnings.warn(f"SampledLyapunov did not re-sample: {reason}; every weight is "
                  "left untouched.", UserWarning, stacklevel=4)
    return SelectionResult(
        scores=np.zeros(0), log_gains=np.zeros(0), chosen=None, chosen_score=math.nan,
        seed=seed, seeds=(), variables=(), measured_at="", skipped=reason,
    )


def _restore(backup):
    for variable, value in backup:
        variable.assign(value)


def _not_fresh(kernels):
    """Why the kernels must not be replaced, or None when all hold their initializer's draw."""
    flags = _provenance.fresh_flags([(kernel, initializer) for _, kernel, initializer in kernels])
    if all(flags):
        return None
    stale = [kernel.path for (_, kernel, _), ok in zip(kernels, flags) if not ok]
    shown = ", ".join(stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
    return (f"{len(stale)} of {len(kernels)} kernels ({shown}) do not hold the values their "
            "initializer drew: they were trained, loaded or set by hand, or their origin "
            "cannot be told (a Keras initializer seeded by a SeedGenerator)")


def _select(model, x, settings):
    """Runs the selection in place; returns its :class:`SelectionResult` and the kernels."""
    k, layers, target_norm, verbose = (
        settings.k, settings.layers, settings.target_norm, settings.verbose)
    seed = _validation.resolved_seed(settings.seed)

    reason = _already_trained(model)
    if reason is not None:
        return _skipped(seed, reason), []
    if not model.built:
        if x is None:
            raise ValueError("`x` is required to build an unbuilt model before sampling.")
        model(take_probes(x, 1))  # unbuilt: the input rank is not known yet

    for message in slope_mismatches(model):
        warnings.warn(message, UserWarning, stacklevel=3)
    kernels = selected_kernels(model, layers)
    left_out = unselected_seeded_variables(model, layers)
    if left_out:
        names = ", ".join(variable for variable, _ in KERNEL_VARIABLES)
        warnings.warn(
            f"SampledLyapunov re-draws {names} variables only; these come from seeded "
            f"initializers too and are left as they are: {', '.join(left_out)}.",
            UserWarning, stacklevel=3)
    if not kernels:
        raise ValueError(
            f"No kernel to re-sample with layers={layers!r}: the model has no trainable "
            "layer whose kernel comes from LyapunovNormal or LyapunovOrthogonal. Use "
            'layers="all" or a list of layers to re-sample other seeded initializers.'
        )
    reason = _not_fresh(kernels)
    if reason is not None:
        return _skipped(seed, reason), []
    probes = probe_inputs(model, x, settings.num_probes, settings.probe_range, seed)
    ops = keras.ops
    log_input_norms = log_norms(probes)
    log_target = 0.0 if target_norm is None else math.log(target_norm)

    drawer = CandidateDrawer(kernels)
    variables = tuple(kernel.path for _, kernel, _ in kernels)
    seeds = tuple(derive_seed(seed, _seeds.CANDIDATES, i) for i in range(k))
    scores = np.full(k, np.inf)
    log_gains = np.full(k, np.nan)
    backup = [(kernel, ops.copy(kernel.value)) for _, kernel, _ in kernels]
    progbar = keras.utils.Progbar(k, verbose=verbose, unit_name="candidate") if verbose else None
    try:
        with linear_head(model) as measured_at:
            statistic = cached_statistic(model, measured_at, target_norm)
            for i, candidate_seed in enumerate(seeds):
                drawer.assign(candidate_seed)
                value = float(ops.convert_to_numpy(
                    statistic(*variable_values(model), probes, log_input_norms)))
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
            return SelectionResult(
                scores=scores, log_gains=log_gains, chosen=None, chosen_score=math.nan,
                seed=seed, seeds=seeds, variables=variables,
                measured_at=measured_at, skipped="every candidate was non-finite"), []
        chosen = int(np.argmin(scores))  # first of equal minima
        if chosen != k - 1:  # the variables still hold the last candidate drawn
            drawer.assign(seeds[chosen])  # re-materialize the winner from its seed
        _provenance.record_selected([kernel for _, kernel, _ in kernels])
    except BaseException:  # KeyboardInterrupt too: the originals come back exactly
        _restore(backup)
        raise
    result = SelectionResult(
        scores=scores, log_gains=log_gains, chosen=chosen,
        chosen_score=float(scores[chosen]), seed=seed, seeds=seeds,
        variables=variables, measured_at=measured_at)
    if verbose:
        print(result.summary())
    return result, [kernel for _, kernel, _ in kernels]


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
            weights, also in a new process, on a given backend, when the layers
            that are not re-sampled are seeded too (an unseeded layer is drawn
            anew in each process and can change the winner).
        layers: ``"lyapunov"`` (default): kernels built by LyapunovNormal or
            LyapunovOrthogonal; ``"all"``: every trainable kernel whose
            initializer takes a seed; or a list of layers (matched by identity)
            or layer names (unique in the model). Kernels are the variables
            ``kernel``, ``recurrent_kernel``, ``embeddings``,
            ``depthwise_kernel`` and ``pointwise_kernel``; other variables from
            such initializers are named in a warning and left as they are.
            Layers with ``trainable=False`` are never touched.
        num_probes: number of probe samples (default 256).
        target_norm: None for the scale-free score, or the output norm to aim at.
        probe_range: ``(low, high)`` of the default uniform probes.
        verbose: 0 silent, 1 or 2 a progress bar over candidates and a summary.

    Returns:
        A :class:`SelectionResult`.

    Raises:
        ValueError: for invalid arguments or probes (naming the argument).

    Only kernels that provably still hold their initializer's draw (or an
    earlier selection's choice) are replaced: if any selected kernel was
    trained, loaded or set by hand, or its origin cannot be told, or the model
    has trained (``optimizer.iterations > 0``), nothing is changed and a warning
    names the reason. On any exception (``KeyboardInterrupt`` included) the
    original weights are restored exactly; candidates with non-finite outputs
    are discarded, and if all are, the original weights are kept (with a
    warning).

    Example:
        >>> result = sample_initialization(model, x_train[:256], k=10, seed=0)
        >>> result.chosen, result.chosen_score

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4 (Sampled
    Lyapunov initialization) and Thm 3.4.
    """
    settings = SelectionSettings(k=k, seed=seed, layers=layers, num_probes=num_probes,
                                 target_norm=target_norm, probe_range=probe_range,
                                 verbose=verbose)
    result, _ = _select(model, x, settings)
    return result


@keras.saving.register_keras_serializable(package="keras_lyapunov")
class SampledLyapunov(keras.callbacks.Callback):
    """Callback running Sampled Lyapunov initialization before training.

    ``model.fit(x, y, callbacks=[SampledLyapunov(k=10)])`` selects the best of
    ``k`` candidate initializations in ``on_train_begin`` (see
    :func:`sample_initialization`) and keeps the outcome in ``self.result``.

    Nothing is lost: only kernels that still hold their initializer's draw are
    re-sampled (see :func:`sample_initialization`), so a resumed, trained or
    loaded model is left as it is, with a warning. If another callback replaces
    the kernels after the selection and before the first step (e.g.
    ``keras.callbacks.BackupAndRestore`` listed after this one, restoring a
    backup), training continues from those weights and ``self.result`` says
    that the selection was superseded.

    Args:
        k: number of candidates (integer >= 1).
        x: probe inputs (see :func:`sample_initialization`); default: uniform
            probes on the model's input shape.
        seed: None or an integer >= 0.
        verbose: 0 silent, 1 (default) a progress bar and a summary line.
        layers, num_probes, target_norm, probe_range: as in
            :func:`sample_initialization`.

    The arguments but ``x`` form one :class:`SelectionSettings`, validated
    here, kept as ``self.settings`` (and readable as ``self.k``, ``self.seed``,
    ...); ``get_config`` is its :meth:`SelectionSettings.config` (data is not
    configuration; layer objects given in ``layers`` are stored by name).

    Example:
        >>> model.fit(x, y, callbacks=[SampledLyapunov(k=10, seed=0)])

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4.
    """

    def __init__(self, k=10, x=None, seed=None, verbose=1, layers="lyapunov",
                 num_probes=256, target_norm=None, probe_range=DEFAULT_PROBE_RANGE):
        super().__init__()
        self.settings = SelectionSettings(k=k, seed=seed, layers=layers, num_probes=num_probes,
                                          target_norm=target_norm, probe_range=probe_range,
                                          verbose=verbose)
        self.x = x
        self.result = None
        self._selected = []  # the kernels the selection replaced, until training starts

    def on_train_begin(self, logs=None):
        self.result, self._selected = _select(self.model, self.x, self.settings)

    def on_epoch_begin(self, epoch, logs=None):
        kernels, self._selected = self._selected, []
        if kernels and not _provenance.holds_selection(kernels):
            reason = ("the kernels were replaced after the selection, before training "
                      "(e.g. BackupAndRestore restored a backup)")
            self.result = dataclasses.replace(self.result, chosen=None, skipped=reason)
            warnings.warn(f"SampledLyapunov: {reason}; training continues from those "
                          "weights.", UserWarning)

    def get_config(self):
        return self.settings.config()

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _setting(name):
    return property(lambda self: getattr(self.settings, name),
                    doc=f"``{name}`` of ``self.settings`` (read-only).")


for _field in dataclasses.fields(SelectionSettings):
    setattr(SampledLyapunov, _field.name, _setting(_field.name))
del _field
