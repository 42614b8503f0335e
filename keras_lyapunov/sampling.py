"""Sampled Lyapunov initialization: keep the best of k candidate initializations.

At Lyapunov initialization the exponent is zero, yet the log output norm of a
deep network still spreads like ``sqrt(depth)`` (the paper's central limit
theorem, Thm 3.4; docs/theory.md section 4): at width 10, depth 100 and slope 0.01
the output norm is typically off by a factor ``e**(+-4.8)``. Sampled Lyapunov
initialization (Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4) draws k
candidate initializations before training and keeps the one whose output norm
over the input distribution is closest to the target.

The score (``score=``), chosen by a trainability study over 400 initializations
of the paper's image model (benchmarks/results/trainability.md):

- ``"loss"``: the model's own loss on the labelled probes after
  ``trial_steps`` full-batch AdamW trial steps from the candidate (GradInit's
  "loss after a step", Zhu et al. 2021). Of every statistic measured at
  initialization, the loss after a few steps predicted best whether the
  network would train. The trial runs on local copies inside one compiled
  function: no weight and no optimizer state of the model is touched.
- ``"scale-free"``: the mean over probes of ``log(||N(x)|| / ||x||)``, closest
  to 0 (this library's earlier default); label-free.
- ``"target-norm"``: the paper's literal score, ``|log(mean ||N(x)||) - log(t)|``
  for ``target_norm=t`` (default 1).
- ``"auto"`` (default): ``"target-norm"`` when ``target_norm`` is given, else
  ``"loss"`` when labels (``y``, or ``(x, y)`` batches) and a loss (the compiled
  model's, or ``loss=``) are at hand, else ``"target-norm"`` with
  ``target_norm=1``, the best label-free score of the study, with a warning
  that says so. The scale-free score selected worse than no selection there.

Norm scores measure the output *before* a saturating output activation
(softmax, sigmoid, tanh, ...), whose squashing would hide the signal a
classifier head receives.

Memory: candidates are re-drawn in place into the existing variables; only
their seeds are kept, and the best one is re-materialized at the end. One
on-device copy of the touched kernels is kept so that the original weights can
be restored exactly if anything goes wrong.
"""

import contextlib
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
from keras_lyapunov._probes import (
    DEFAULT_PROBE_RANGE,
    labelled_probe_inputs,
    log_norms,
    probe_labels,
    take_probes,
)
from keras_lyapunov._scores import cached_statistic, cached_trial_loss, linear_head
from keras_lyapunov._seeds import derive_seed
from keras_lyapunov.structure import slope_mismatches

__all__ = ["SCORES", "SampledLyapunov", "SelectionResult", "SelectionSettings",
           "sample_initialization"]

SCORES = ("auto", "loss", "scale-free", "target-norm")
LABEL_FREE_SCORE = "target-norm"  # the label-free fallback of "auto": the study's best
DEFAULT_TARGET_NORM = 1.0  # of "target-norm" when no target_norm is given
DEFAULT_TRIAL_STEPS = 5


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
        score: one of :data:`SCORES` (see :func:`sample_initialization`).
        target_norm: None, or the positive finite output norm of ``"target-norm"``.
        trial_steps: AdamW trial steps of the ``"loss"`` score, an integer >= 0.
        trial_learning_rate: their learning rate, a positive finite number.
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
    score: str = "auto"
    target_norm: float | None = None
    trial_steps: int = DEFAULT_TRIAL_STEPS
    trial_learning_rate: float = 1e-3
    probe_range: tuple = DEFAULT_PROBE_RANGE
    verbose: int = 0

    def __post_init__(self):
        checked = {
            "k": _validation.integer(self.k, "k"),
            "seed": _validation.optional_seed(self.seed),
            "layers": _validate_layers(self.layers),
            "num_probes": _validation.integer(self.num_probes, "num_probes"),
            "score": _validation.one_of(self.score, "score", SCORES),
            "target_norm": None if self.target_norm is None else _validation.positive_finite(
                self.target_norm, "target_norm",
                what="None or a positive finite number (the target of score='target-norm')"),
            "trial_steps": _validation.integer(self.trial_steps, "trial_steps", minimum=0),
            "trial_learning_rate": _validation.positive_finite(
                self.trial_learning_rate, "trial_learning_rate"),
            "probe_range": _validation.interval(self.probe_range, "probe_range"),
            "verbose": _validation.one_of(self.verbose, "verbose", (0, 1, 2)),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.target_norm is not None and self.score not in ("auto", "target-norm"):
            raise ValueError(
                f"`target_norm` is the target of score='target-norm', but score={self.score!r}"
                ": leave target_norm=None, or use score='target-norm' (or 'auto').")

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
        statistics: ``(k,)`` array of the statistic behind each score: the loss
            after the trial steps (``"loss"``), the mean ``log(||N(x)|| / ||x||)``
            (``"scale-free"``) or ``log(mean ||N(x)||)`` (``"target-norm"``);
            ``nan`` for discarded candidates.
        chosen: index of the candidate kept, or ``None`` if none was.
        chosen_score: its score (``nan`` if none was kept).
        seed: the base seed every candidate seed derives from.
        seeds: the ``k`` candidate seeds.
        variables: paths of the variables that were re-initialized.
        measured_at: where the output was measured (e.g. before a softmax, or
            the loss on the labelled probes).
        score: the score used (``"auto"`` resolved), e.g. ``"loss"``.
        skipped: why the weights were left as they were, or ``None``.
    """

    scores: np.ndarray
    statistics: np.ndarray
    chosen: int | None
    chosen_score: float
    seed: int | None
    seeds: tuple
    variables: tuple
    measured_at: str
    score: str = ""
    skipped: str | None = None

    @property
    def log_gains(self):
        """``statistics`` under its earlier name (the log-gains of the norm scores)."""
        return self.statistics

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
            f"({self.score} score {self.chosen_score:.4g}; scores min {finite.min():.4g}, "
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
        scores=np.zeros(0), statistics=np.zeros(0), chosen=None, chosen_score=math.nan,
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


def _loss_of(model, loss):
    """The loss the ``"loss"`` score trains and measures, or None when there is none."""
    loss = loss if loss is not None else getattr(model, "loss", None)
    if isinstance(loss, (list, tuple, dict)):
        if len(loss) != 1:
            raise ValueError(
                "score='loss' supports a single loss; this model has several "
                f"({len(loss)}). Pass `loss=` (one loss for the one output) or choose "
                "another score.")
        loss = next(iter(loss.values())) if isinstance(loss, dict) else loss[0]
    return loss


def _resolved_score(settings, labels, loss):
    """The score to use: ``settings.score`` with ``"auto"`` resolved (a warning says so)."""
    score = settings.score
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
    if settings.target_norm is not None:
        return "target-norm"
    if labels is not None and loss is not None:
        return "loss"
    missing = ("no loss (compile the model first, or pass `loss=`)" if labels is not None
               else "no labels (pass `y`, or (x, y) batches as `x`)")
    warnings.warn(
        f"SampledLyapunov: {missing}, so candidates are scored by {LABEL_FREE_SCORE!r} "
        f"(target_norm={DEFAULT_TARGET_NORM:g}), the best label-free "
        "score of the trainability study and weaker than the 'loss' score "
        f"(the loss after {settings.trial_steps} trial steps on labelled probes; "
        "benchmarks/results/trainability.md). Pass score=... to choose a score and "
        "silence this warning.", UserWarning, stacklevel=4)
    return LABEL_FREE_SCORE


@contextlib.contextmanager
def _scorer(model, score, settings, probes, labels, loss):
    """Yields ``(measured_at, statistic(), to_score(value))`` for the resolved score.

    ``statistic`` computes the current weights' statistic in one compiled call;
    ``to_score`` maps it to the score (lower is better). For the norm scores the
    model's saturating output activations are removed inside the block.
    """
    if score == "loss":
        trial = cached_trial_loss(model, loss, settings.trial_steps,
                                  settings.trial_learning_rate)
        yield (f"the loss on the {len(probes)} labelled probes after "
               f"{settings.trial_steps} trial AdamW steps",
               lambda: trial(*variable_values(model), probes, labels),
               lambda value: value)
        return
    target_norm = None
    if score == "target-norm":
        target_norm = settings.target_norm or DEFAULT_TARGET_NORM
    log_target = 0.0 if target_norm is None else math.log(target_norm)
    log_input_norms = log_norms(probes)
    with linear_head(model) as measured_at:
        statistic = cached_statistic(model, measured_at, target_norm)
        yield (measured_at,
               lambda: statistic(*variable_values(model), probes, log_input_norms),
               lambda value: abs(value - log_target))


def _select(model, x, settings, y=None, loss=None):
    """Runs the selection in place; returns its :class:`SelectionResult` and the kernels."""
    k, layers, verbose = settings.k, settings.layers, settings.verbose
    seed = _validation.resolved_seed(settings.seed)

    reason = _already_trained(model)
    if reason is not None:
        return _skipped(seed, reason), []
    if y is not None and x is None:
        raise ValueError("`y` labels the probes in `x`: pass `x` too.")
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
    probes, labels_from_x = labelled_probe_inputs(
        model, x, settings.num_probes, settings.probe_range, seed)
    labels = probe_labels(y, probes, labels_from_x)
    loss = _loss_of(model, loss)
    score = _resolved_score(settings, labels, loss)

    ops = keras.ops
    drawer = CandidateDrawer(kernels)
    variables = tuple(kernel.path for _, kernel, _ in kernels)
    seeds = tuple(derive_seed(seed, _seeds.CANDIDATES, i) for i in range(k))
    scores = np.full(k, np.inf)
    statistics = np.full(k, np.nan)
    backup = [(kernel, ops.copy(kernel.value)) for _, kernel, _ in kernels]
    progbar = keras.utils.Progbar(k, verbose=verbose, unit_name="candidate") if verbose else None
    try:
        with _scorer(model, score, settings, probes, labels, loss) as (
                measured_at, statistic, to_score):
            for i, candidate_seed in enumerate(seeds):
                drawer.assign(candidate_seed)
                value = float(ops.convert_to_numpy(statistic()))
                if math.isfinite(value):
                    statistics[i] = value
                    scores[i] = to_score(value)
                if progbar is not None:
                    progbar.update(i + 1, values=[("score", scores[i])])
        if not np.any(np.isfinite(scores)):
            _restore(backup)
            warnings.warn(
                f"SampledLyapunov: all {k} candidates gave non-finite outputs; the "
                "original weights are kept.", UserWarning, stacklevel=3)
            return SelectionResult(
                scores=scores, statistics=statistics, chosen=None, chosen_score=math.nan,
                seed=seed, seeds=seeds, variables=variables, measured_at=measured_at,
                score=score, skipped="every candidate was non-finite"), []
        chosen = int(np.argmin(scores))  # first of equal minima
        if chosen != k - 1:  # the variables still hold the last candidate drawn
            drawer.assign(seeds[chosen])  # re-materialize the winner from its seed
        _provenance.record_selected([kernel for _, kernel, _ in kernels])
    except BaseException:  # KeyboardInterrupt too: the originals come back exactly
        _restore(backup)
        raise
    result = SelectionResult(
        scores=scores, statistics=statistics, chosen=chosen,
        chosen_score=float(scores[chosen]), seed=seed, seeds=seeds,
        variables=variables, measured_at=measured_at, score=score)
    if verbose:
        print(result.summary())
    return result, [kernel for _, kernel, _ in kernels]


def sample_initialization(
    model,
    x=None,
    y=None,
    *,
    k=10,
    seed=None,
    layers="lyapunov",
    num_probes=256,
    score="auto",
    target_norm=None,
    trial_steps=DEFAULT_TRIAL_STEPS,
    trial_learning_rate=1e-3,
    loss=None,
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
            tf.data.Dataset / iterable of batches (``(x, y)`` pairs give the
            labels too); the first ``num_probes`` samples are used. If omitted,
            probes are drawn uniformly from ``probe_range`` on the model's input
            shape (the paper's "uniform on the input values", for inputs in [0, 1]).
        y: labels of the probes (at least ``num_probes`` rows), for the
            ``"loss"`` score; or None.
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
        score: ``"auto"`` (default), ``"loss"``, ``"scale-free"`` or
            ``"target-norm"``; see the module docstring.
        target_norm: the output norm ``"target-norm"`` aims at, or None (1).
        trial_steps: AdamW steps of the ``"loss"`` score (an integer >= 0;
            0 scores by the initial loss).
        trial_learning_rate: their learning rate (Keras's AdamW otherwise).
        loss: the loss of the ``"loss"`` score (a Keras loss name, function or
            ``Loss``); default: the compiled model's loss.
        probe_range: ``(low, high)`` of the default uniform probes.
        verbose: 0 silent, 1 or 2 a progress bar over candidates and a summary.

    Returns:
        A :class:`SelectionResult` (``result.score`` names the score used).

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
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> result = sample_initialization(model, x_train[:256], y_train[:256], k=10, seed=0)
        >>> result.score, result.chosen, result.chosen_score

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4 (Sampled
    Lyapunov initialization) and Thm 3.4; the loss score: Zhu et al. 2021
    (GradInit) and benchmarks/results/trainability.md.
    """
    settings = SelectionSettings(k=k, seed=seed, layers=layers, num_probes=num_probes,
                                 score=score, target_norm=target_norm,
                                 trial_steps=trial_steps,
                                 trial_learning_rate=trial_learning_rate,
                                 probe_range=probe_range, verbose=verbose)
    result, _ = _select(model, x, settings, y=y, loss=loss)
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

    The arguments but ``x`` and ``y`` form one :class:`SelectionSettings`,
    validated here, kept as ``self.settings`` (and readable as ``self.k``, ``self.seed``,
    ...); ``get_config`` is its :meth:`SelectionSettings.config` (data is not
    configuration; layer objects given in ``layers`` are stored by name).

    Example:
        >>> model.fit(x, y, callbacks=[SampledLyapunov(k=10, x=x[:256], y=y[:256], seed=0)])

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4.
    """

    def __init__(self, k=10, x=None, y=None, seed=None, verbose=1, layers="lyapunov",
                 num_probes=256, score="auto", target_norm=None,
                 trial_steps=DEFAULT_TRIAL_STEPS, trial_learning_rate=1e-3,
                 probe_range=DEFAULT_PROBE_RANGE):
        super().__init__()
        self.settings = SelectionSettings(k=k, seed=seed, layers=layers, num_probes=num_probes,
                                          score=score, target_norm=target_norm,
                                          trial_steps=trial_steps,
                                          trial_learning_rate=trial_learning_rate,
                                          probe_range=probe_range, verbose=verbose)
        self.x = x
        self.y = y
        self.result = None
        self._selected = []  # the kernels the selection replaced, until training starts

    def on_train_begin(self, logs=None):
        self.result, self._selected = _select(self.model, self.x, self.settings, y=self.y)

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
