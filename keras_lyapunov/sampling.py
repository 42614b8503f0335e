"""Sampled Lyapunov initialization: keep the best of k candidate initializations.

At Lyapunov initialization the exponent is zero, yet the log output norm of a
deep network still spreads like ``sqrt(depth)`` (the paper's central limit
theorem, Thm 3.4; docs/theory.md section 4): at width 10, depth 100 and slope 0.01
the output norm is typically off by a factor ``e**(+-4.8)``. Sampled Lyapunov
initialization (Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4) draws k
candidate initializations before training and keeps the best by a score
(:mod:`keras_lyapunov._scores`: ``"loss"``, ``"scale-free"``, ``"target-norm"``
or ``"auto"``).

:class:`SelectionSettings` is the one list of the selection's settings: the
signatures, docstrings and configs of :func:`sample_initialization` and
:class:`SampledLyapunov` are made from its fields.

Memory: a candidate is its seed; the kernel values it drew are kept (up to
``_candidates.KEPT_CANDIDATE_BYTES`` for all of them together) while it may
still be trained again or chosen, and drawn again from the seed beyond that.
One on-device copy of the touched kernels is kept so that the original weights
can be restored exactly if anything goes wrong.
"""

import contextlib
import dataclasses
import inspect
import itertools
import math
import textwrap
import weakref

import keras
import numpy as np

from keras_lyapunov import _provenance, _seeds, _trials, _validation
from keras_lyapunov._candidates import (
    KERNEL_VARIABLES,
    CandidateDrawer,
    KeptCandidates,
    all_kernels,
    all_layers,
    selected_kernels,
    unselected_seeded_variables,
)
from keras_lyapunov._probes import (
    DEFAULT_PROBE_RANGE,
    labelled_probe_inputs,
    probe_labels,
    take_labelled_probes,
)
from keras_lyapunov._scores import SCORES, resolve_score, scorer
from keras_lyapunov._seeds import derive_seed
from keras_lyapunov.structure import slope_mismatches

DEFAULT_TRIAL_STEPS = 8  # the longest trial; chosen with the budget share by the study
DEFAULT_BUDGET_SHARE = 0.04  # of fit's planned steps (benchmarks/results/trainability.md)

__all__ = ["SCORES", "SampledLyapunov", "SelectionResult", "SelectionSettings",
           "sample_initialization"]


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


def _setting(default, doc):
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True)
class SelectionSettings:
    """The settings of a sampled selection: the one list, validated once when made.

    :func:`sample_initialization` and :class:`SampledLyapunov` take exactly these
    fields as keyword arguments (their signatures and docstrings are made from
    them); the callback keeps them as ``settings`` and its ``get_config`` is
    :meth:`config`. Every field is checked and normalized in ``__post_init__``;
    a bad value raises a ``ValueError`` that names the argument and its valid range.

    Attributes:
%(settings)s

    Example:
        >>> SelectionSettings(k=10, seed=0).config()["k"]
        10
    """

    k: int = _setting(10, "number of candidates, an integer >= 1 (the paper uses "
                      "O(sqrt(depth)); see ``recommended_k``).")
    seed: int | None = _setting(
        None, "None (a fresh random base seed per selection, kept in ``result.seed``) or "
        "an integer >= 0. The same seed gives bit-identical chosen weights, also in a new "
        "process, on a given backend, when the layers that are not re-sampled are seeded "
        "too (an unseeded layer is drawn anew in each process and can change the winner).")
    layers: object = _setting(
        "lyapunov", '``"lyapunov"``: kernels built by a Lyapunov initializer (LyapunovNormal, '
        'LyapunovOrthogonal, LyapunovDeltaOrthogonal); '
        '``"all"``: every trainable kernel whose initializer takes a seed; or a list of '
        "layers (matched by identity) or layer names (unique in the model). Kernels are the "
        "variables ``kernel``, ``recurrent_kernel``, ``embeddings``, ``depthwise_kernel`` "
        "and ``pointwise_kernel``; other variables from such initializers are named in a "
        "warning and left as they are. Layers with ``trainable=False`` are never touched.")
    num_probes: int = _setting(256, "number of probe samples taken from ``x``, an integer "
                               ">= 1 (in ``fit`` without ``x``, the batch is fit's own).")
    score: str = _setting(
        "auto", '``"loss"``: the model\'s training loss on the batch after a few steps of '
        "its own train step (GradInit's \"loss after a step\", Zhu et al. 2021; see "
        "``budget``); "
        '``"scale-free"``: ``|mean log(||N(x)|| / ||x||)|``; ``"target-norm"``: the '
        "paper's ``|log(mean ||N(x)||) - log(target_norm)|``; ``\"auto\"``: "
        '``"target-norm"`` when ``target_norm`` is given, else ``"loss"`` when the model is '
        'compiled and the batch is labelled (always in ``fit``), else ``"target-norm"`` with target 1, with a warning. Norm '
        "scores measure the output before a saturating output activation (softmax, "
        "sigmoid, tanh, ...).")
    target_norm: float | None = _setting(
        None, 'None, or the positive finite output norm ``"target-norm"`` aims at '
        "(default 1).")
    trial_steps: int = _setting(
        DEFAULT_TRIAL_STEPS, 'the longest trial of the ``"loss"`` score, in train steps of '
        "the model's own training, an integer >= 0 (0 scores by the initial loss).")
    budget: int | None = _setting(
        None, 'the train steps the ``"loss"`` score may spend, an integer >= ``k`` (each '
        "candidate is screened by its initial loss, one step; the best half then get "
        "trials as long as the budget allows, up to ``trial_steps``); None: in ``fit``, "
        "``budget_share`` of fit's planned steps; in ``sample_initialization``, as "
        "much as the longest trials take.")
    budget_share: float = _setting(
        DEFAULT_BUDGET_SHARE, "the share of fit's planned steps (epochs x steps per epoch) "
        "the callback spends when ``budget`` is None, a number in (0, 1].")
    probe_range: tuple = _setting(
        DEFAULT_PROBE_RANGE, "``(low, high)`` of the uniform probes drawn on the model's "
        "input shape when no ``x`` is given.")
    verbose: int = _setting(1, "0 (or False) silent; 1, 2, True or ``\"auto\"`` a progress "
                            "bar over candidates and a summary line, as in ``fit``.")

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
            "budget": _trials.check_budget(self.budget, self.k),
            "budget_share": _validation.share(self.budget_share, "budget_share"),
            "probe_range": _validation.interval(self.probe_range, "probe_range"),
            "verbose": _validation.verbosity(self.verbose),
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


_SETTINGS = dataclasses.fields(SelectionSettings)
_DEFAULTS = {field.name: field.default for field in _SETTINGS}

# The data arguments of both entry points (not settings: they stay out of the config).
_DATA_DOC = """x: probe inputs: an array or tensor of shape ``(batch, ...)``, or a
            tf.data.Dataset / iterable of batches (``(x, y)`` pairs give the
            labels too); the first ``num_probes`` samples are used. If omitted,
            the callback uses fit's first batch; the function draws probes
            uniformly from ``probe_range`` on the model's input shape (the
            paper's "uniform on the input values", for inputs in [0, 1]).
        y: labels of the probes (at least ``num_probes`` rows; an array, or a
            dict or list of arrays for a model with several outputs), for the
            ``"loss"`` score; or None."""


def _documented_settings(names, indent=8):
    """The docs of the named settings as Google-style ``name: text`` lines."""
    lines = []
    for field in _SETTINGS:
        if field.name in names:
            default = "" if field.name == "score" else f" Default: {field.default!r}."
            lines.append(textwrap.fill(
                f"{field.name}: {field.metadata['doc']}{default}", width=92,
                initial_indent=" " * indent, subsequent_indent=" " * (indent + 4),
                break_on_hyphens=False))
    return "\n".join(lines)


def _with_settings(*head):
    """Gives a function or class the settings as parameters and as documented arguments.

    ``head`` are the parameters before the settings (a setting among them, like
    the callback's positional ``k``, keeps its place); every other setting
    follows as a keyword-only parameter. The docstring's ``%(k)s``,
    ``%(data)s`` and ``%(settings)s`` are filled in.
    """
    named = {parameter.name for parameter in head}
    rest = [field.name for field in _SETTINGS if field.name not in named]

    def decorate(target):
        target.__signature__ = inspect.Signature([*head, *(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_DEFAULTS[name])
            for name in rest)])
        target.__doc__ = target.__doc__ % {
            "k": _documented_settings(("k",)).strip(), "data": _DATA_DOC,
            "settings": _documented_settings(rest)}
        return target
    return decorate


SelectionSettings.__doc__ = SelectionSettings.__doc__ % {
    "settings": _documented_settings(_DEFAULTS)}


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
        steps: ``(k,)`` array (the ``"loss"`` score): the trial steps after which
            each candidate's score was read (0: its initial loss; those that
            survived the screen were trained longer); empty for the norm scores.
        budget: the train steps the selection could spend (None for the norm scores).
        spent: the train steps it spent (each a step of the model's own training,
            on one batch, undone afterwards).
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
    steps: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))
    budget: int | None = None
    spent: int = 0

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
        if self.budget is not None:
            text += f"; {self.spent} of {self.budget} budgeted train steps"
        return text + f"; measured at {self.measured_at}."


# --------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------


def _prior_training_reason(model):
    """Why the model counts as trained (its optimizer stepped, or a fit resumes), or None."""
    optimizer = getattr(model, "optimizer", None)
    iterations = getattr(optimizer, "iterations", None)
    if iterations is not None and int(keras.ops.convert_to_numpy(iterations)) > 0:
        return "the model has already trained (optimizer.iterations > 0)"
    if getattr(model, "_initial_epoch", None):
        return "the fit resumes from a backup (initial_epoch > 0)"
    return None


def _shown(paths):
    return ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def _unbuilt_layers(model):
    return [layer.name for layer in all_layers(model) if not layer.built]


def _other_kernels(model, kernels, layers):
    """The kernels the provenance check reads beside the selected ones, with initializers."""
    if isinstance(layers, tuple):
        return []
    selected = {id(kernel) for _, kernel, _ in kernels}
    return [(variable, initializer) for variable, initializer in all_kernels(model)
            if id(variable) not in selected]


def _provenance_reason(kernels, others):
    """Why the kernels must not be replaced, in words; None when they may be.

    A selected kernel that does not hold its initializer's draw (or a
    selection's choice) stops it; so does one of ``others`` (:func:`_other_kernels`:
    the model's other kernels, none when ``layers`` names the layers) that provably
    moved from its initial value. One fingerprint call serves both checks.
    """
    pairs = [(kernel, initializer) for _, kernel, initializer in kernels]
    found = _provenance.states(pairs + others)
    stale = [kernel.path for (kernel, _), state in zip(pairs, found)
             if state != _provenance.FRESH]
    if stale:
        return (f"{len(stale)} of {len(kernels)} kernels ({_shown(stale)}) do not hold the "
                "values their initializer drew: they were trained, loaded or set by hand, or "
                "their origin cannot be told (a Keras initializer seeded by a SeedGenerator)")
    moved = [variable.path for (variable, _), state in zip(others, found[len(pairs):])
             if state == _provenance.MOVED]
    if moved:
        return (f"{len(moved)} other weights of the model ({_shown(moved)}) no longer hold "
                "their initializers' values: the model has trained, or was loaded or set by "
                "hand, and those weights may have learned with the kernels a selection would "
                "replace. Pass layers=[...] naming the layers to re-sample to select anyway")
    return None


def _restore(backup):
    for variable, value in backup:
        variable.assign(value)


@dataclasses.dataclass(frozen=True)
class _FitBatch:
    """What the callback lends the selection in ``fit``: the first batch and fit's plan."""

    batch: object  # as the train step takes it, e.g. (x, y) or (x, y, sample_weight)
    planned_steps: int | None  # epochs x steps per epoch (None when fit does not know)
    function: object  # fit's own train function
    element_spec: object = None  # TensorFlow: the element spec of fit's iterator


def _batch_inputs(batch):
    return keras.utils.unpack_x_y_sample_weight(
        tuple(batch) if isinstance(batch, list) else batch)[0]


BEST_LOSS = "best loss"  # the progress bar of the loss score shows it after every round


class _Selection:
    """One sampled selection on ``model``: guard, prepare, score the candidates.

    After :meth:`run`, ``replaced`` lists the kernels that hold the chosen
    candidate (empty when nothing was replaced).
    """

    def __init__(self, model, settings):
        self.model = model
        self.settings = settings
        self.seed = _seeds.base_seed(settings.seed)
        self.replaced = []
        self._others = []  # the other kernels the provenance check read, with initializers

    def run(self, x=None, y=None, fit=None):
        """Runs the selection in place; returns its :class:`SelectionResult`.

        ``fit``: a :class:`_FitBatch` when called by the callback inside ``fit``;
        its batch is used when ``x`` is None.
        """
        reason = _prior_training_reason(self.model)
        if reason is not None:
            return self._skipped(reason)
        if y is not None and x is None:
            raise ValueError("`y` labels the probes in `x`: pass `x` too.")
        taken = self._build(x)
        kernels = self._kernels()
        # Read once: the check and, after the choice, its record use the same layout.
        self._others = _other_kernels(self.model, kernels, self.settings.layers)
        reason = _provenance_reason(kernels, self._others)
        if reason is not None:
            return self._skipped(reason)
        num_probes = self.settings.num_probes
        if x is None and fit is not None:
            batch = fit.batch
            probes = _batch_inputs(batch)
            rows = getattr(keras.tree.flatten(probes)[0], "shape", None)  # None: per replica
            source = "fit's first batch" + (f" ({rows[0]} samples)" if rows else "")
            missing = None
        else:
            probes, labels_from_x = labelled_probe_inputs(
                self.model, x, num_probes, self.settings.probe_range, self.seed, taken=taken)
            labels = probe_labels(y, probes, labels_from_x)
            batch = None if labels is None else (probes, labels)
            source = (f"{len(probes)} uniform probes on {list(self.settings.probe_range)} "
                      "(no x given)" if x is None else f"the {len(probes)} probes of x")
            missing = ("no labels (pass `y`, or x as (x, y) batches)" if labels is None
                       else None)
        if missing is None and getattr(self.model, "optimizer", None) is None:
            missing = "the model is not compiled (the loss score trains it as fit would)"
        score = resolve_score(self.settings.score, target_norm=self.settings.target_norm,
                              missing=missing, probes=source)
        if score == "loss":
            try:
                return self._choose_by_trials(kernels, batch, fit, source)
            except _trials.NoTrainingLoss as error:
                if self.settings.score == "loss":
                    raise ValueError(f"score='loss' cannot be used: {error}.") from None
                score = resolve_score("auto", target_norm=None, missing=str(error),
                                      probes=source)
        return self._choose(kernels, score, probes)

    def _skipped(self, reason):
        """Warns that nothing was re-sampled, and why; the result says the same."""
        _validation.warn(f"SampledLyapunov did not re-sample: {reason}; every weight is "
                         "left untouched.")
        return SelectionResult(
            scores=np.zeros(0), statistics=np.zeros(0), chosen=None, chosen_score=math.nan,
            seed=self.seed, seeds=(), variables=(), measured_at="", skipped=reason,
        )

    def _build(self, x):
        """Builds an unbuilt model (or unbuilt layers) on the probes; returns what was read.

        ``x`` is read once here and the same rows serve as probes later, so a
        one-shot iterator loses nothing; None when the model was built already.
        """
        model = self.model
        if model.built and not _unbuilt_layers(model):
            return None
        if x is None:
            if not model.built:
                raise ValueError("`x` is required to build an unbuilt model before sampling.")
            return None  # a model built by build(shape): _kernels says what is missing
        taken = take_labelled_probes(x, self.settings.num_probes)
        model(taken[0][:1])  # unbuilt: the input rank is not known yet
        return taken

    def _kernels(self):
        """The kernels to re-draw, with the model's warnings."""
        model, layers = self.model, self.settings.layers
        for message in slope_mismatches(model):
            _validation.warn(message)
        kernels = selected_kernels(model, layers)
        left_out = unselected_seeded_variables(model, layers)
        if left_out:
            names = ", ".join(variable for variable, _ in KERNEL_VARIABLES)
            _validation.warn(
                f"SampledLyapunov re-draws {names} variables only; these come from seeded "
                f"initializers too and are left as they are: {', '.join(left_out)}.")
        if not kernels:
            unbuilt = _unbuilt_layers(model)
            if unbuilt:
                raise ValueError(
                    f"No kernel to re-sample yet: the layers {_shown(unbuilt)} are not built "
                    "(model.build(shape) marks a subclassed model built without building its "
                    "layers). Pass `x`, or call the model on a batch first.")
            raise ValueError(
                f"No kernel to re-sample with layers={layers!r}: the model has no trainable "
                "layer whose kernel comes from a Lyapunov initializer (LyapunovNormal, "
                "LyapunovOrthogonal or LyapunovDeltaOrthogonal). Use "
                'layers="all" or a list of layers to re-sample other seeded initializers.'
            )
        return kernels

    def _budget(self, fit):
        """The train steps the loss score may spend (see ``SelectionSettings.budget``)."""
        settings = self.settings
        if settings.budget is not None:
            return settings.budget
        planned = None if fit is None else fit.planned_steps
        if planned:
            return max(settings.k, round(settings.budget_share * planned))
        return _trials.plan_cost(_trials.halving_plan(settings.k, math.inf,
                                                      settings.trial_steps))

    def _progbar(self, target, stateful=None):
        if not self.settings.verbose:
            return None
        progbar = keras.utils.Progbar(target, verbose=self.settings.verbose,
                                      stateful_metrics=stateful, unit_name="candidate")
        progbar.update(0)  # shown before any work, however large k is
        return progbar

    def _finish(self, kernels, candidates, result):
        """Leaves the chosen candidate in the kernels (or the originals); reports."""
        if result.chosen is None:
            _validation.warn(f"SampledLyapunov: all {len(result.scores)} candidates gave "
                             "non-finite outputs; the original weights are kept.")
            return dataclasses.replace(result, chosen_score=math.nan,
                                       skipped="every candidate was non-finite")
        candidates.assign(result.chosen, result.seeds[result.chosen])
        self.replaced = [kernel for _, kernel, _ in kernels]
        _provenance.record_selected(self.replaced, [variable for variable, _ in self._others])
        if self.settings.verbose:
            print(result.summary())
        return result

    @contextlib.contextmanager
    def _originals_on_error(self, kernels):
        """Yields a copy of the kernels; on any exception (``KeyboardInterrupt`` too) the
        originals come back exactly, and nothing counts as replaced."""
        backup = [(kernel, keras.ops.copy(kernel.value)) for _, kernel, _ in kernels]
        try:
            yield backup
        except BaseException:
            self.replaced = []
            _restore(backup)
            raise

    def _choose(self, kernels, score, probes):
        """Scores every candidate by a norm score and leaves the best in the kernels."""
        ops, k = keras.ops, self.settings.k
        progbar = self._progbar(k)
        candidates = KeptCandidates(CandidateDrawer(kernels))
        seeds, scores, statistics = [], [], []  # one entry per candidate, as it is scored
        best = None  # the best candidate so far (the first of equal minima)
        with self._originals_on_error(kernels) as backup:
            with scorer(self.model, score, probes,
                        target_norm=self.settings.target_norm) as scoring:
                for i in range(k):
                    seeds.append(derive_seed(self.seed, _seeds.CANDIDATES, i))
                    candidates.assign(i, seeds[-1])
                    value = float(ops.convert_to_numpy(scoring.statistic()))
                    finite = math.isfinite(value)
                    statistics.append(value if finite else math.nan)
                    scores.append(scoring.to_score(value) if finite else math.inf)
                    if progbar is not None:
                        progbar.update(i + 1, values=[("score", scores[-1])])
                    if finite and (best is None or scores[-1] < scores[best]):
                        best = i
                    candidates.retain([best])
            _restore(backup)
            chosen = best
            result = SelectionResult(
                scores=np.array(scores), statistics=np.array(statistics), chosen=chosen,
                chosen_score=float(scores[chosen]) if chosen is not None else math.nan,
                seed=self.seed, seeds=tuple(seeds),
                variables=tuple(kernel.path for _, kernel, _ in kernels),
                measured_at=f"{scoring.measured_at}, on {self._probes_named(probes)}",
                score=score)
            return self._finish(kernels, candidates, result)

    @staticmethod
    def _probes_named(probes):
        return f"{keras.tree.flatten(probes)[0].shape[0]} probes"

    def _choose_by_trials(self, kernels, batch, fit, source):
        """Screens every candidate by its initial loss, trains the best longer, keeps the best.

        The rounds are :func:`keras_lyapunov._trials.halving_plan` of the budget;
        every trial step is a step of the model's own training, undone afterwards.
        """
        settings, k = self.settings, self.settings.k
        budget = self._budget(fit)
        plan = _trials.halving_plan(k, budget, settings.trial_steps)
        progbar = self._progbar(sum(count for count, _ in plan), stateful=[BEST_LOSS])
        candidates = KeptCandidates(CandidateDrawer(kernels))
        held = candidates.drawer.kernels
        # One entry per candidate as it is screened (lazily: k may be huge).
        seeds, scores, statistics, steps, initial = [], [], [], [], []
        with self._originals_on_error(kernels):  # the trials restore every variable on exit
            with _trials.restoring_trial(
                    self.model, batch, None if fit is None else fit.function,
                    None if fit is None else fit.element_spec, held) as trial:
                alive, done = range(k), 0
                for round_index, (count, length) in enumerate(plan):
                    if round_index:  # the best of the previous round, by its score
                        alive = sorted((i for i in alive if math.isfinite(scores[i])),
                                       key=lambda i: scores[i])[:count]
                        candidates.retain(alive)
                    pending = []  # read once the round is dispatched: reading waits
                    for i in alive:
                        if i == len(seeds):
                            seeds.append(derive_seed(self.seed, _seeds.CANDIDATES, i))
                            for column, empty in ((scores, math.inf), (statistics, math.nan),
                                                  (steps, 0), (initial, math.nan)):
                                column.append(empty)
                        pending.append((i, trial.run(length, candidates.values(i, seeds[i]))))
                        done += 1
                        if progbar is not None:
                            progbar.update(done)
                    for i, unread in pending:
                        losses = _trials.read_losses(unread)
                        initial[i] = losses[0]
                        value = losses[-1] if len(losses) == length + 1 else math.inf
                        finite = math.isfinite(value)
                        scores[i] = value if finite else math.inf
                        statistics[i] = value if finite else math.nan
                        steps[i] = length
                    if progbar is not None:
                        best = min(scores[i] for i, _ in pending)
                        progbar.update(done, values=[(BEST_LOSS, best)])
                spent = trial.steps_taken
            finalists = [i for i in alive if math.isfinite(scores[i])]
            chosen = min(finalists, key=lambda i: scores[i]) if finalists else None
            candidates.retain([chosen])
            result = SelectionResult(
                scores=np.array(scores), statistics=np.array(statistics), chosen=chosen,
                chosen_score=float(scores[chosen]) if chosen is not None else math.nan,
                seed=self.seed, seeds=tuple(seeds),
                variables=tuple(kernel.path for kernel in held),
                measured_at=(f"the training loss on {source}, " + (
                    f"after {plan[-1][1]} steps of the model's own train step for the best "
                    f"{plan[-1][0]}" if len(plan) > 1 else "before any step")),
                score="loss", steps=np.array(steps), budget=budget, spent=spent)
            self._warn_uninformative(result, initial)
            return self._finish(kernels, candidates, result)

    @staticmethod
    def _warn_uninformative(result, initial):
        """Warns when the trials could not tell the candidates apart, or made them worse."""
        finite = result.scores[np.isfinite(result.scores)]
        if len(finite) > 1 and np.all(finite == finite[0]):
            _validation.warn(
                f"SampledLyapunov: all {len(finite)} candidates had the same training loss "
                f"({finite[0]:.4g}), so the score cannot tell them apart and candidate "
                f"{result.chosen} is kept (check the labels against the model's outputs, e.g. "
                "class ids below the number of output units).")
        chosen = result.chosen
        if chosen is not None and result.steps[chosen] > 0 and (
                result.scores[chosen] > initial[chosen]):
            _validation.warn(
                f"SampledLyapunov: the trial steps raised the training loss of the best "
                f"candidate ({initial[chosen]:.4g} -> {result.scores[chosen]:.4g} after "
                f"{result.steps[chosen]} steps): the optimizer's learning rate may be too "
                "high for this model, and the selection says little.")


_PARAMETER = inspect.Parameter


@_with_settings(_PARAMETER("model", _PARAMETER.POSITIONAL_OR_KEYWORD),
                _PARAMETER("x", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None),
                _PARAMETER("y", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None))
def sample_initialization(model, x=None, y=None, **settings):
    """Sampled Lyapunov initialization of a built Keras model, in place.

    Draws ``k`` candidate initializations of the selected kernels, each from its
    own seed derived deterministically from ``seed``, scores each on probe
    inputs, and leaves the model holding the best one (the lowest score; the
    first of equal minima).

    The ``"loss"`` score (the default when ``y`` is given and the model is
    compiled) trains each candidate through the model's own train step (its
    compiled loss, regularization losses, optimizer and metrics, as ``fit``
    would) on the labelled probes, and gives every variable of the model and
    its optimizer back exactly: all ``k`` are screened by their initial loss,
    and the best half train longer, within ``budget`` train steps.

    Args:
        model: a Keras model (Sequential, Functional or subclassed); compiled for
            the ``"loss"`` score.
        %(data)s
%(settings)s

    Returns:
        A :class:`SelectionResult` (``result.score`` names the score used).

    Raises:
        ValueError: for invalid arguments or probes (naming the argument).

    Only kernels that provably still hold their initializer's draw (or an
    earlier selection's choice) are replaced: if any selected kernel was
    trained, loaded or set by hand, or its origin cannot be told, or the model
    has trained (``optimizer.iterations > 0``), or (with ``layers`` not a list)
    another kernel of the model provably moved from its initial value, nothing
    is changed and a warning names the reason. ``x`` is read once, also when it
    builds an unbuilt model. On any exception (``KeyboardInterrupt`` included) the
    original weights are restored exactly; candidates with non-finite outputs
    are discarded, and if all are, the original weights are kept (with a
    warning).

    Example:
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> result = sample_initialization(model, x_train[:256], y_train[:256], k=10, seed=0)
        >>> result.summary()

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4 (Sampled
    Lyapunov initialization) and Thm 3.4; the loss score: Zhu et al. 2021
    (GradInit); the budget: successive halving (Jamieson & Talwalkar 2016).
    """
    return _Selection(model, SelectionSettings(**settings)).run(x, y)


# On the model: (the fit's params, the callback that selected in that fit). Keras hands
# one params dict to every callback of a fit, so it tells one fit from the next.
_FIT_SELECTION = "_keras_lyapunov_fit_selection"


def _attach_jax_state(model, state):
    """Gives the variables the values of fit's JAX ``state`` (fit detaches them)."""
    groups = (model.trainable_variables, model.non_trainable_variables,
              model.optimizer.variables, model.metrics_variables)
    for variables, values in zip(groups, state):
        for variable, value in zip(variables, values):
            variable.assign(value)


def _jax_state(model):
    """The state fit's JAX train function takes, detached from the variables as fit does."""
    return model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                optimizer_variables=True, metrics_variables=True,
                                purge_model_variables=True)


@keras.saving.register_keras_serializable(package="keras_lyapunov")
@_with_settings(_PARAMETER("k", _PARAMETER.POSITIONAL_OR_KEYWORD, default=_DEFAULTS["k"]),
                _PARAMETER("x", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None),
                _PARAMETER("y", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None))
class SampledLyapunov(keras.callbacks.Callback):
    """Callback running Sampled Lyapunov initialization before training, on fit's own data.

    ``model.fit(x, y, callbacks=[SampledLyapunov(k=10)])`` selects the best of
    ``k`` candidate initializations (see :func:`sample_initialization`)
    immediately before fit's first train step, on the batch that step is about
    to train on, and keeps the outcome in ``self.result``. Keras gives callbacks
    no data, so the callback lends itself fit's first batch: in
    ``on_train_begin`` it wraps ``model.train_function`` for one call, reads
    the batch fit passes there, runs the trials on it through that very
    function (fit's own train step, compiled once for both), gives every
    variable back, and hands the same batch on to fit's first step. No batch
    is consumed, skipped or reordered, whatever fit reads (arrays, dicts,
    ``validation_split``, ``tf.data``, ``PyDataset``, a torch ``DataLoader``,
    a generator). The budget is ``budget_share`` of fit's planned steps
    (``self.params``: epochs x steps per epoch) unless ``budget`` is given.
    Passing ``x`` (and ``y``) scores on those instead.

    Nothing is lost: only kernels that still hold their initializer's draw are
    re-sampled (see :func:`sample_initialization`), so a resumed, trained or
    loaded model is left as it is, with a warning. Of two ``SampledLyapunov``
    callbacks in one ``fit``, the first selects and the second leaves the
    weights as they are (its ``result`` says why).

    Args:
        %(k)s
        %(data)s
%(settings)s

    The settings (every argument but ``x`` and ``y``, which are data, not
    configuration) form one :class:`SelectionSettings`, validated here and
    kept as ``self.settings`` (readable as ``self.k``, ``self.seed``, ...);
    ``get_config`` is its :meth:`SelectionSettings.config` (layer objects given
    in ``layers`` are stored by name).

    Example:
        >>> model.fit(x, y, epochs=15, callbacks=[SampledLyapunov(k=10)])

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4.
    """

    def __init__(self, k=_DEFAULTS["k"], x=None, y=None, **settings):
        super().__init__()
        self.settings = SelectionSettings(k=k, **settings)
        self.x = x
        self.y = y
        self.result = None
        self._original = None  # fit's train function while it is wrapped

    def on_train_begin(self, logs=None):
        model = self.model
        selection = _Selection(model, self.settings)
        earlier = model.__dict__.get(_FIT_SELECTION)
        if (earlier is not None and self.params is not None and earlier[0] is self.params
                and earlier[1]() is not self):
            # Two callbacks in one fit: the first one's choice stays, and its result true.
            self.result = selection._skipped(
                "another SampledLyapunov callback already selected in this fit; pass one")
            return
        object.__setattr__(model, _FIT_SELECTION, (self.params, weakref.ref(self)))
        self._original = original = model.train_function

        def first_step(*args):
            self._unwrap()  # whatever happens, fit's later steps are fit's own
            return self._select_then_step(selection, original, args)

        model.train_function = first_step

    def on_train_end(self, logs=None):
        self._unwrap()  # a fit that never stepped

    def _unwrap(self):
        if self._original is not None:
            self.model.train_function, self._original = self._original, None

    def _planned_steps(self):
        params = self.params or {}
        epochs, steps = params.get("epochs"), params.get("steps")
        return epochs * steps if epochs and steps else None

    def _select_then_step(self, selection, original, args):
        """Lends the selection fit's first batch, then runs fit's first step on it."""
        model, backend = self.model, keras.backend.backend()
        planned = self._planned_steps()
        if backend == "torch":
            (data,) = args
            self.result = selection.run(self.x, self.y, _FitBatch(data[0], planned, original))
            return original(data)
        if backend == "jax":
            state, iterator = args
            batch = next(iterator)
            _attach_jax_state(model, state)
            self.result = selection.run(self.x, self.y, _FitBatch(batch, planned, original))
            return original(_jax_state(model), itertools.chain([batch], iterator))
        (iterator,) = args
        batch = next(iterator)
        spec = getattr(iterator, "element_spec", None)
        self.result = selection.run(self.x, self.y, _FitBatch(batch, planned, original, spec))
        if model.steps_per_execution == 1:
            return _trials.tensorflow_feed(model, original, batch, spec)()
        return original(itertools.chain([batch], iterator))

    def get_config(self):
        return self.settings.config()

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.pop("trial_learning_rate", None) is not None:
            _validation.warn(
                "SampledLyapunov: `trial_learning_rate` of an older config is ignored: the "
                "trials now run the model's own optimizer.", DeprecationWarning)
        return cls(**config)


def _read_only_setting(name):
    return property(lambda self: getattr(self.settings, name),
                    doc=f"``{name}`` of ``self.settings`` (read-only).")


for _field in _SETTINGS:
    setattr(SampledLyapunov, _field.name, _read_only_setting(_field.name))
del _field
