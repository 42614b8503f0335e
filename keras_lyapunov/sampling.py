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

Memory: candidates are re-drawn in place into the existing variables; only
their seeds are kept, and the best one is re-materialized at the end. One
on-device copy of the touched kernels is kept so that the original weights can
be restored exactly if anything goes wrong.
"""

import dataclasses
import inspect
import math
import textwrap
import weakref

import keras
import numpy as np

from keras_lyapunov import _provenance, _seeds, _validation
from keras_lyapunov._candidates import (
    KERNEL_VARIABLES,
    CandidateDrawer,
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
from keras_lyapunov._scores import (
    DEFAULT_TRIAL_LEARNING_RATE,
    DEFAULT_TRIAL_STEPS,
    SCORES,
    model_loss,
    resolve_score,
    scorer,
)
from keras_lyapunov._seeds import derive_seed
from keras_lyapunov.structure import slope_mismatches

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
        "lyapunov", '``"lyapunov"``: kernels built by LyapunovNormal or LyapunovOrthogonal; '
        '``"all"``: every trainable kernel whose initializer takes a seed; or a list of '
        "layers (matched by identity) or layer names (unique in the model). Kernels are the "
        "variables ``kernel``, ``recurrent_kernel``, ``embeddings``, ``depthwise_kernel`` "
        "and ``pointwise_kernel``; other variables from such initializers are named in a "
        "warning and left as they are. Layers with ``trainable=False`` are never touched.")
    num_probes: int = _setting(256, "number of probe samples, an integer >= 1.")
    score: str = _setting(
        "auto", '``"loss"``: the model\'s loss on the labelled probes after ``trial_steps`` '
        'AdamW trial steps (GradInit\'s "loss after a step", Zhu et al. 2021); '
        '``"scale-free"``: ``|mean log(||N(x)|| / ||x||)|``; ``"target-norm"``: the '
        "paper's ``|log(mean ||N(x)||) - log(target_norm)|``; ``\"auto\"``: "
        '``"target-norm"`` when ``target_norm`` is given, else ``"loss"`` when labels and '
        'a loss are at hand, else ``"target-norm"`` with target 1, with a warning. Norm '
        "scores measure the output before a saturating output activation (softmax, "
        "sigmoid, tanh, ...).")
    target_norm: float | None = _setting(
        None, 'None, or the positive finite output norm ``"target-norm"`` aims at '
        "(default 1).")
    trial_steps: int = _setting(
        DEFAULT_TRIAL_STEPS, 'AdamW trial steps of the ``"loss"`` score, an integer >= 0 '
        "(0 scores by the initial loss).")
    trial_learning_rate: float = _setting(
        DEFAULT_TRIAL_LEARNING_RATE, "their learning rate, a positive finite number "
        "(Keras's AdamW defaults otherwise).")
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
            "trial_learning_rate": _validation.positive_finite(
                self.trial_learning_rate, "trial_learning_rate"),
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
            probes are drawn uniformly from ``probe_range`` on the model's input
            shape (the paper's "uniform on the input values", for inputs in [0, 1]).
        y: labels of the probes (at least ``num_probes`` rows), for the
            ``"loss"`` score; or None.
        loss: the loss of the ``"loss"`` score (a Keras loss name, function or
            ``Loss``); default: the compiled model's loss."""


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


def _provenance_reason(model, kernels, layers):
    """Why the kernels must not be replaced, in words; None when they may be.

    A selected kernel that does not hold its initializer's draw (or a
    selection's choice) stops it; so does, unless ``layers`` names the layers,
    another kernel of the model that provably moved from its initial value.
    One fingerprint call serves both checks.
    """
    pairs = [(kernel, initializer) for _, kernel, initializer in kernels]
    selected = {id(kernel) for kernel, _ in pairs}
    others = [] if isinstance(layers, tuple) else [
        (variable, initializer) for variable, initializer in all_kernels(model)
        if id(variable) not in selected]
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

    def run(self, x=None, y=None, loss=None):
        """Runs the selection in place; returns its :class:`SelectionResult`."""
        reason = _prior_training_reason(self.model)
        if reason is not None:
            return self._skipped(reason)
        if y is not None and x is None:
            raise ValueError("`y` labels the probes in `x`: pass `x` too.")
        taken = self._build(x)
        kernels = self._kernels()
        reason = _provenance_reason(self.model, kernels, self.settings.layers)
        if reason is not None:
            return self._skipped(reason)
        probes, labels_from_x = labelled_probe_inputs(
            self.model, x, self.settings.num_probes, self.settings.probe_range, self.seed,
            taken=taken)
        labels = probe_labels(y, probes, labels_from_x)
        loss = model_loss(self.model, loss)
        score = resolve_score(self.settings.score, target_norm=self.settings.target_norm,
                              labels=labels, loss=loss)
        return self._choose(kernels, score, probes, labels, loss)

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
                "layer whose kernel comes from LyapunovNormal or LyapunovOrthogonal. Use "
                'layers="all" or a list of layers to re-sample other seeded initializers.'
            )
        return kernels

    def _choose(self, kernels, score, probes, labels, loss):
        """Scores every candidate and leaves the best in the kernels."""
        ops, settings, k = keras.ops, self.settings, self.settings.k
        progbar = (keras.utils.Progbar(k, verbose=settings.verbose, unit_name="candidate")
                   if settings.verbose else None)
        if progbar is not None:
            progbar.update(0)  # shown before any work, however large k is
        drawer = CandidateDrawer(kernels)
        variables = tuple(kernel.path for _, kernel, _ in kernels)
        seeds, scores, statistics = [], [], []  # one entry per candidate, as it is scored
        backup = [(kernel, ops.copy(kernel.value)) for _, kernel, _ in kernels]
        try:
            with scorer(self.model, score, probes, labels, loss,
                        target_norm=settings.target_norm, trial_steps=settings.trial_steps,
                        trial_learning_rate=settings.trial_learning_rate) as scoring:
                for i in range(k):
                    seeds.append(derive_seed(self.seed, _seeds.CANDIDATES, i))
                    drawer.assign(seeds[-1])
                    value = float(ops.convert_to_numpy(scoring.statistic()))
                    finite = math.isfinite(value)
                    statistics.append(value if finite else math.nan)
                    scores.append(scoring.to_score(value) if finite else math.inf)
                    if progbar is not None:
                        progbar.update(i + 1, values=[("score", scores[-1])])
            seeds, scores, statistics = tuple(seeds), np.array(scores), np.array(statistics)
            if not np.any(np.isfinite(scores)):
                _restore(backup)
                _validation.warn(f"SampledLyapunov: all {k} candidates gave non-finite "
                                 "outputs; the original weights are kept.")
                return SelectionResult(
                    scores=scores, statistics=statistics, chosen=None, chosen_score=math.nan,
                    seed=self.seed, seeds=seeds, variables=variables,
                    measured_at=scoring.measured_at, score=score,
                    skipped="every candidate was non-finite")
            chosen = int(np.argmin(scores))  # first of equal minima
            if chosen != k - 1:  # the variables still hold the last candidate drawn
                drawer.assign(seeds[chosen])
            self.replaced = [kernel for _, kernel, _ in kernels]
            _provenance.record_selected(self.replaced)
        except BaseException:  # KeyboardInterrupt too: the originals come back exactly
            self.replaced = []
            _restore(backup)
            raise
        result = SelectionResult(
            scores=scores, statistics=statistics, chosen=chosen,
            chosen_score=float(scores[chosen]), seed=self.seed, seeds=seeds,
            variables=variables, measured_at=scoring.measured_at, score=score)
        if settings.verbose:
            print(result.summary())
        return result


_PARAMETER = inspect.Parameter


@_with_settings(_PARAMETER("model", _PARAMETER.POSITIONAL_OR_KEYWORD),
                _PARAMETER("x", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None),
                _PARAMETER("y", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None),
                _PARAMETER("loss", _PARAMETER.KEYWORD_ONLY, default=None))
def sample_initialization(model, x=None, y=None, *, loss=None, **settings):
    """Sampled Lyapunov initialization of a built Keras model, in place.

    Draws ``k`` candidate initializations of the selected kernels, each from its
    own seed derived deterministically from ``seed``, scores each on probe
    inputs, and leaves the model holding the best one (the lowest score; the
    first of equal minima).

    Args:
        model: a Keras model (Sequential, Functional or subclassed) with one input.
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
    Lyapunov initialization) and Thm 3.4; the loss score: Zhu et al. 2021 (GradInit).
    """
    return _Selection(model, SelectionSettings(**settings)).run(x, y, loss)


# On the model: (the fit's params, the callback that selected in that fit). Keras hands
# one params dict to every callback of a fit, so it tells one fit from the next.
_FIT_SELECTION = "_keras_lyapunov_fit_selection"


@keras.saving.register_keras_serializable(package="keras_lyapunov")
@_with_settings(_PARAMETER("k", _PARAMETER.POSITIONAL_OR_KEYWORD, default=_DEFAULTS["k"]),
                _PARAMETER("x", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None),
                _PARAMETER("y", _PARAMETER.POSITIONAL_OR_KEYWORD, default=None),
                _PARAMETER("loss", _PARAMETER.KEYWORD_ONLY, default=None))
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
    that the selection was superseded. Of two ``SampledLyapunov`` callbacks in
    one ``fit``, the first selects and the second leaves the weights as they
    are (its ``result`` says why).

    Args:
        %(k)s
        %(data)s
%(settings)s

    The settings (every argument but ``x``, ``y`` and ``loss``, which are data,
    not configuration) form one :class:`SelectionSettings`, validated here and
    kept as ``self.settings`` (readable as ``self.k``, ``self.seed``, ...);
    ``get_config`` is its :meth:`SelectionSettings.config` (layer objects given
    in ``layers`` are stored by name).

    Example:
        >>> model.fit(x, y, callbacks=[SampledLyapunov(k=10, x=x[:256], y=y[:256], seed=0)])

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4.
    """

    def __init__(self, k=_DEFAULTS["k"], x=None, y=None, *, loss=None, **settings):
        super().__init__()
        self.settings = SelectionSettings(k=k, **settings)
        self.x = x
        self.y = y
        self.loss = loss
        self.result = None
        self._selected = []  # the kernels the selection replaced, until training starts

    def on_train_begin(self, logs=None):
        selection = _Selection(self.model, self.settings)
        earlier = self.model.__dict__.get(_FIT_SELECTION)
        if (earlier is not None and self.params is not None and earlier[0] is self.params
                and earlier[1]() is not self):
            # Two callbacks in one fit: the first one's choice stays, and its result true.
            self.result = selection._skipped(
                "another SampledLyapunov callback already selected in this fit; pass one")
            self._selected = []
            return
        object.__setattr__(self.model, _FIT_SELECTION, (self.params, weakref.ref(self)))
        self.result = selection.run(self.x, self.y, self.loss)
        self._selected = selection.replaced

    def on_epoch_begin(self, epoch, logs=None):
        kernels, self._selected = self._selected, []
        if kernels and not _provenance.holds_selection(kernels):
            reason = ("the kernels were replaced after the selection, before training "
                      "(e.g. BackupAndRestore restored a backup)")
            self.result = dataclasses.replace(self.result, chosen=None, skipped=reason)
            _validation.warn(f"SampledLyapunov: {reason}; training continues from those "
                             "weights.")

    def get_config(self):
        return self.settings.config()

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _read_only_setting(name):
    return property(lambda self: getattr(self.settings, name),
                    doc=f"``{name}`` of ``self.settings`` (read-only).")


for _field in _SETTINGS:
    setattr(SampledLyapunov, _field.name, _read_only_setting(_field.name))
del _field
