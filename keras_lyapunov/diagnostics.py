"""Signal-propagation diagnostics: predicted versus measured log-norm through depth.

For Gaussian and orthogonal kernels the per-layer log-gains of a Dense /
leaky-ReLU chain are exactly i.i.d. (docs/theory.md sections 2 and 6), and so are
those of a chain of delta-orthogonal convolutions at one position (section 7),
so the whole depth profile is predictable: the mean and standard deviation of
``log ||h_l|| - log ||x||`` after every layer, for any mix of widths and
initializers. :func:`signal_report` computes it and measures the same over an
ensemble of re-initializations; :func:`plot_signal` draws it like the paper's
Figure 1 (Kogler, Schwarz, Kittle, arXiv:2602.10949).
"""

import dataclasses
import math
import warnings

import keras
import numpy as np

from keras_lyapunov import _seeds, _validation, theory
from keras_lyapunov._candidates import CandidateDrawer, is_frozen, selected_kernels
from keras_lyapunov._forward import compile_function, stateless_outputs, variable_values
from keras_lyapunov._probes import (
    DEFAULT_PROBE_RANGE,
    log_norms,
    probe_inputs,
    require_nonzero_rows,
)
from keras_lyapunov._seeds import base_seed, derive_seed, reseeded, takes_seed
from keras_lyapunov.baselines import INITIALIZERS
from keras_lyapunov.initializers import LyapunovDeltaOrthogonal, delta_kernel_channels, kernel_law
from keras_lyapunov.structure import (
    CONVOLUTIONS, grouped_convolution, layer_chain, position_track, slope_mismatches)

__all__ = ["LayerSignal", "SignalReport", "comparison_reports", "plot_signal", "signal_report"]

# The kinds of a layer's prediction (LayerSignal.prediction).
EXACT = "exact"
ESTIMATED = "estimated"
NONE = "none"


@dataclasses.dataclass(frozen=True)
class LayerSignal:
    """One row of a :class:`SignalReport` (a Dense layer, or a layer not analysed).

    Attributes:
        name: layer name.
        layer_type: layer class name.
        kernel_shape: ``(fan_in, units)`` of a Dense kernel, else None.
        initializer: kernel initializer class name ("" without a kernel).
        scale: standard deviation of the kernel entries (Gaussian and estimated
            laws) or the gain (orthogonal); None when unknown.
        activation: the activation applied after the layer.
        slope: its leaky-ReLU slope (1.0 for linear), None if not piecewise linear.
        prediction: ``"exact"``, ``"estimated"`` (Monte Carlo over kernel draws),
            or ``"none"``; see ``note`` for why.
        gain_mean, gain_std: predicted mean and std of this layer's log-gain.
        predicted_mean, predicted_std: predicted mean and std of
            ``log ||h_l|| - log ||x||`` after this layer (None once a layer
            before could not be predicted).
        measured_mean, measured_std: the same measured on the probe inputs over
            the ensemble of re-initializations (finite values only).
        note: why a prediction is missing or qualified, else "".
    """

    name: str
    layer_type: str
    kernel_shape: tuple | None
    initializer: str
    scale: float | None
    activation: str
    slope: float | None
    prediction: str
    gain_mean: float | None
    gain_std: float | None
    predicted_mean: float | None
    predicted_std: float | None
    measured_mean: float
    measured_std: float
    note: str


_TABLE_COLUMNS = (
    ("layer", lambda r: r.name),
    ("kernel", lambda r: "x".join(map(str, r.kernel_shape)) if r.kernel_shape else "-"),
    ("initializer", lambda r: r.initializer or "-"),
    ("scale", lambda r: r.scale),
    ("activation", lambda r: r.activation),
    ("prediction", lambda r: r.prediction),
    ("gain mean", lambda r: r.gain_mean),
    ("gain std", lambda r: r.gain_std),
    ("pred mean", lambda r: r.predicted_mean),
    ("pred std", lambda r: r.predicted_std),
    ("meas mean", lambda r: r.measured_mean),
    ("meas std", lambda r: r.measured_std),
)


def _cell(value, digits):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


@dataclasses.dataclass(frozen=True)
class SignalReport:
    """Predicted and measured log-norm through depth, one row per analysed layer.

    Attributes:
        rows: tuple of :class:`LayerSignal`, in model order.
        samples: number of re-initializations measured.
        num_probes: probe inputs per re-initialization.
        seed: the seed the ensemble was drawn from.
        log_norms: array ``(samples, num_probes, len(rows))`` of measured
            ``log ||h_l(x)|| - log ||x||`` (``-inf`` where the signal died).
        warnings: slope-check messages (see :func:`check_slopes`).
    """

    rows: tuple
    samples: int
    num_probes: int
    seed: int
    log_norms: np.ndarray = dataclasses.field(repr=False)
    warnings: tuple = ()

    def table(self, digits=3):
        """The report as an aligned text table (``-`` marks "not available").

        Args:
            digits: decimals of the numeric columns.

        Returns:
            A string, one line per row, notes listed below the table.
        """
        header = [name for name, _ in _TABLE_COLUMNS]
        body = [[_cell(get(row), digits) for _, get in _TABLE_COLUMNS] for row in self.rows]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(cell.rjust(w) for cell, w in zip(line, widths))
                 for line in [header, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(
            f"log-norm relative to the input, after each layer; measured over {self.samples} "
            f"re-initializations x {self.num_probes} probe inputs (seed {self.seed}).")
        named = {}
        for row in self.rows:
            if row.note:
                named.setdefault(row.note, []).append(row.name)
        for note, names in named.items():  # one line per distinct note
            where = names[0] if len(names) == 1 else (
                f"{names[0]} ... {names[-1]}, {len(names)} layers")
            lines.append(f"note [{where}]: {note}")
        lines.extend(f"warning: {message}" for message in self.warnings)
        return "\n".join(lines)

    def __str__(self):
        return self.table()

    def as_dicts(self):
        """The rows as a list of plain dicts (for pandas, JSON, CSV)."""
        return [dataclasses.asdict(row) for row in self.rows]


# --------------------------------------------------------------------------
# The log-gain of a kernel law the theory does not cover: a Monte Carlo estimate
# --------------------------------------------------------------------------


_ESTIMATE_DIRECTIONS = 32


def _estimated_gain(initializer, shape, slope, draws, seed):
    """Monte Carlo log-gain of a kernel law the theory does not cover exactly.

    ``draws`` kernels from ``initializer`` (re-seeded), each applied to 32
    inputs shaped like the signal inside a leaky-ReLU chain, ``rho(g)`` for
    Gaussian ``g``. Returns (mean, std, entry std, standard error of the mean),
    the error from the spread of the per-kernel means.
    """
    rng = np.random.default_rng(derive_seed(seed, _seeds.ESTIMATE_DIRECTIONS))
    per_kernel, gains, squares = [], [], []
    for i in range(draws):
        fresh = reseeded(initializer, derive_seed(seed, _seeds.ESTIMATE_KERNELS, i))
        kernel = np.asarray(keras.ops.convert_to_numpy(fresh(shape, dtype="float32")),
                            dtype=np.float64)
        inputs = rng.standard_normal((_ESTIMATE_DIRECTIONS, shape[0]))
        inputs = np.where(inputs > 0, inputs, slope * inputs)
        outputs = inputs @ kernel
        outputs = np.where(outputs > 0, outputs, slope * outputs)
        with np.errstate(divide="ignore"):
            gain = np.log(np.linalg.norm(outputs, axis=1)) - np.log(
                np.linalg.norm(inputs, axis=1))
        gains.append(gain)
        per_kernel.append(np.mean(gain))
        squares.append(np.mean(kernel**2))
    gains = np.concatenate(gains)
    if not np.all(np.isfinite(gains)):
        return None
    error = float(np.std(per_kernel, ddof=1) / math.sqrt(draws))
    return (float(np.mean(gains)), float(np.std(gains, ddof=1)),
            math.sqrt(float(np.mean(squares))), error)


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


def _frozen_kernel(layer, model):
    return is_frozen(layer, model) or not layer.kernel.trainable


def _nonzero_bias(layer):
    bias = getattr(layer, "bias", None)
    return bias is not None and bool(np.any(keras.ops.convert_to_numpy(bias) != 0))


@dataclasses.dataclass(frozen=True)
class _Prediction:
    """One layer's predicted log-gain: its kind (EXACT, ESTIMATED, NONE), moments and scale."""

    kind: str
    note: str
    gain_mean: float | None = None
    gain_std: float | None = None
    scale: float | None = None


def _convolution_law(layer):
    """``(matrix shape, law)`` of a convolution's centre tap, or a :class:`_Prediction` of none."""
    initializer = layer.kernel_initializer
    kernel_shape = tuple(int(d) for d in layer.kernel.shape)
    if not isinstance(initializer, LyapunovDeltaOrthogonal):
        return _Prediction(NONE, (
            f"{type(layer).__name__} with {type(initializer).__name__}: the theory is exact "
            "for delta-orthogonal kernels (LyapunovDeltaOrthogonal) only; measure this "
            "layer's exponent with keras_lyapunov.measure_exponent."))
    grouped = grouped_convolution(layer)
    if grouped is not None:
        return _Prediction(NONE, f"{grouped}; not covered.")
    shape = delta_kernel_channels(kernel_shape)
    return shape, ("orthogonal", float(initializer.scale(kernel_shape)))


def _predict_step(step, model, estimate_draws, seed, estimates):
    """The :class:`_Prediction` of one chain step."""
    layer = step.layer
    if isinstance(layer, CONVOLUTIONS):
        found = _convolution_law(layer)
        if isinstance(found, _Prediction):
            return found
        shape, law = found
    elif not isinstance(layer, keras.layers.Dense):
        return _Prediction(
            NONE, f"{type(layer).__name__} is not a Dense layer or a convolution: the theory "
            "does not cover it.")
    else:
        shape = tuple(int(d) for d in layer.kernel.shape)
        law = kernel_law(layer.kernel_initializer, shape)
    applied = step.activation
    initializer = layer.kernel_initializer
    scale = law[1] if law else None
    notes = []
    if _nonzero_bias(layer):
        notes.append("the bias is nonzero; predictions assume zero biases.")
    if _frozen_kernel(layer, model):
        return _Prediction(NONE, " ".join(
            ["the kernel is frozen (trainable=False): measured with its current "
             "values, not re-drawn or predicted.", *notes]), scale=scale)
    if applied.slope is None:
        return _Prediction(NONE, " ".join(
            [f"{applied.description} is not a leaky ReLU: no prediction.", *notes]),
            scale=scale)
    if applied.slope == 0.0:
        return _Prediction(NONE, " ".join(
            [f"{applied.description} has slope 0: each layer zeroes the signal with "
             f"probability >= 2**-{shape[1]}, so the predicted exponent is -inf "
             "(collapse in depth).", *notes]), scale=scale)
    if law is not None:
        distribution, scale = law
        mean = theory.lyapunov_exponent(shape[1], applied.slope, distribution=distribution,
                                        scale=scale, fan_in=shape[0])
        std = theory.log_gain_std(shape[1], applied.slope, distribution=distribution,
                                  fan_in=shape[0])
        return _Prediction(EXACT, " ".join(notes), mean, std, scale)
    if not takes_seed(initializer):
        return _Prediction(NONE, " ".join(
            [f"{type(initializer).__name__} is not random: no prediction.", *notes]))
    config = dict(initializer.get_config())
    config.pop("seed", None)
    key = (type(initializer), repr(sorted(config.items())), shape, applied.slope)
    if key not in estimates:
        estimates[key] = _estimated_gain(
            initializer, shape, applied.slope, estimate_draws,
            derive_seed(seed, _seeds.ESTIMATES, len(estimates)))
    estimate = estimates[key]
    if estimate is None:
        return _Prediction(NONE, " ".join(
            ["the Monte Carlo estimate met a zero output (log-gain -inf): no prediction.",
             *notes]))
    mean, std, entry_std, error = estimate
    return _Prediction(ESTIMATED, " ".join([
        f"{type(initializer).__name__} is neither Gaussian nor orthogonal: Monte Carlo "
        f"estimate over {estimate_draws} kernels, standard error {error:.1e} per layer.",
        *notes]), mean, std, entry_std)


def _log_norms_at(y, index):
    """``log ||y[b, position index[b], :]||`` per sample of a channels-last map ``y``."""
    ops = keras.ops
    shape = ops.shape(y)
    positions = math.prod(shape[1:-1])
    per_position = ops.reshape(log_norms(ops.reshape(y, (-1, shape[-1]))), (-1, positions))
    return ops.take_along_axis(per_position, ops.expand_dims(index, 1), axis=1)[:, 0]


def _tracked_positions(track, probes, steps):
    """Per probe, the flat position each tracked step is read at, and the input's.

    One output position of the last tracked layer per probe: the one nearest
    the centre of its grid whose input position (under the centre taps) is
    not all zero (an image's corner may be black). Every earlier layer is read
    at the position that one reads.

    Returns:
        ``(input index, [index or None per step])``, int32 arrays of shape (probes,).
    """
    x = np.asarray(keras.ops.convert_to_numpy(probes))
    last = len(track.outputs) - 1
    grid = track.grids[last]
    centre = np.array([(n - 1) / 2 for n in grid])
    candidates = sorted(np.ndindex(*grid), key=lambda p: float(np.sum((np.array(p) - centre)**2)))
    chosen = []
    for b in range(x.shape[0]):
        for position in candidates:
            source = track.back(position, last)
            if all(0 <= q < n for q, n in zip(source, track.input_grid)) and np.any(
                    x[(b, *source)] != 0):
                chosen.append(position)
                break
        else:
            raise ValueError(
                f"`x`: probe {b} is zero at every input position the tracked positions read; "
                "its per-position log-gain is undefined.")
    def flat(index, grid_shape):
        return np.array([np.ravel_multi_index(track.back(p, last, index), grid_shape)
                         for p in chosen], dtype="int32")

    where = {output: i for i, output in enumerate(track.outputs)}
    per_step = [None if where.get(id(step.output)) is None else
                flat(where[id(step.output)], track.grids[where[id(step.output)]])
                for step in steps]
    return flat(-1, track.input_grid), per_step


def _stateless_log_norms(extractor, drawer):
    """Compiled forward of one re-drawn candidate -> log-norms, shape (probes, steps).

    The drawn kernels enter as the drawer's batches and singles and are put in
    place of the variables' values inside the compiled function (no assigns).
    ``indices``: per step, the flat position (per probe) to read the output at,
    or None for the whole output.
    """
    ops = keras.ops
    place = drawer.placer(extractor.trainable_variables)

    def candidate_log_norms(batches, singles, trainable, non_trainable, x, log_input_norms,
                            indices):
        trainable = place(trainable, batches, singles)
        outputs = stateless_outputs(extractor, trainable, non_trainable, x)
        columns = [(log_norms(y) if index is None else _log_norms_at(y, index))
                   - log_input_norms
                   for y, index in zip(keras.tree.flatten(outputs), indices)]
        return ops.stack(columns, axis=1)

    return compile_function(candidate_log_norms)


def _measure(model, chain, probes, samples, seed, positions=None):
    """Measured log-norms, shape (samples, probes, steps), kernels re-drawn per sample.

    ``positions``: ``(input index, [index or None per step])`` of
    :func:`_tracked_positions`, or None to measure whole outputs.
    """
    ops = keras.ops
    extractor = keras.Model(chain.input, [step.output for step in chain.steps])
    drawer = CandidateDrawer(selected_kernels(model, "all"))
    trainable, non_trainable = variable_values(extractor)
    if positions is None:
        log_input_norms, indices = log_norms(probes), [None] * len(chain.steps)
    else:
        log_input_norms = _log_norms_at(probes, ops.convert_to_tensor(positions[0]))
        indices = [None if i is None else ops.convert_to_tensor(i) for i in positions[1]]
    forward = _stateless_log_norms(extractor, drawer)
    measured = np.empty((samples, int(ops.shape(probes)[0]), len(chain.steps)))
    for s in range(samples):
        batches, singles = drawer.draw(derive_seed(seed, _seeds.ENSEMBLE, s))
        measured[s] = ops.convert_to_numpy(forward(
            batches, singles, trainable, non_trainable, probes, log_input_norms, indices))
    return measured


def _zero_output_note(zero, samples, slope):
    """Why ``zero`` of ``samples`` networks output exactly zero at a layer, and what it does."""
    excluded = ("they are excluded from the measured moments, which are therefore biased "
                "upward (only the networks whose signal stayed representable remain).")
    if slope == 0.0:
        return f"{zero} of {samples} networks output exactly zero here (ReLU); {excluded}"
    if slope is None:
        return (f"{zero} of {samples} networks output exactly zero here (died, or underflowed "
                f"the float range); {excluded}")
    # A leaky ReLU of a nonzero input is never zero: the signal fell below the
    # smallest representable number (about 1e-45 in float32) and rounded to 0.
    return (f"{zero} of {samples} networks underflowed here: their signal fell below the "
            f"smallest representable float (about 1e-45 in float32) and rounded to zero; "
            f"{excluded}")


def _finite_moments(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -math.inf, 0.0
    std = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
    return float(np.mean(finite)), std


def signal_report(model, x=None, *, samples=100, num_probes=16, seed=None,
                  estimate_draws=1024, probe_range=DEFAULT_PROBE_RANGE, warn=True):
    """Predicted and measured log-norm ``log ||h_l|| - log ||x||`` after every layer.

    The model is read as a chain (Sequential, or a Functional model without
    branches); norm-preserving layers (Flatten, Dropout, ...) are skipped and an
    activation layer right after a Dense layer is counted with it. Each Dense
    layer gets its exact predicted log-gain when its kernel is Gaussian
    (LyapunovNormal, RandomNormal, untruncated VarianceScaling) or orthogonal
    (LyapunovOrthogonal, Orthogonal), a Monte Carlo estimate (marked
    "estimated") for other random initializers (Keras's truncated HeNormal,
    GlorotUniform, ...), and none, with the reason, otherwise. Layers the theory
    does not cover (BatchNormalization, pooling, ...) get a row marked "none";
    the cumulative prediction stops there. The measurement re-draws every
    trainable seeded kernel ``samples`` times and runs the model's own forward
    pass (stateless: the model's weights are never touched).

    Convolutional chains (a channels-last spatial input) are followed at one
    position per probe: ``log ||h_l(p_l)|| - log ||x(p_0)||``, where ``p_0`` is
    the input position that ``p_l`` reads through the centre taps (strides and
    padding included), exact for ``LyapunovDeltaOrthogonal`` kernels
    (docs/theory.md section 7); from the first layer that mixes positions
    (Flatten, pooling) the whole output is measured and nothing is predicted.

    The slope actually applied after each Lyapunov-initialized layer is
    checked (:func:`keras_lyapunov.structure.check_slopes`) and mismatches warned about.

    Args:
        model: a built Sequential or Functional model with one input.
        x: probe inputs (array, tensor, tf.data or iterable of batches); default:
            uniform on ``probe_range`` over the model's input shape.
        samples: number of re-initializations, an integer >= 2.
        num_probes: probe inputs per re-initialization, an integer >= 1.
        seed: None or an integer >= 0 (the ensemble and the probes).
        estimate_draws: kernels drawn per Monte Carlo estimate (>= 2).
        probe_range: ``(low, high)`` of the default uniform probes.
        warn: issue slope-check warnings.

    Returns:
        A :class:`SignalReport`; ``print(report)`` shows the table.

    Example:
        >>> from keras_lyapunov import standard_mlp
        >>> model = standard_mlp(width=10, depth=100, slope=0.01)
        >>> print(signal_report(model, samples=200, seed=0))

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Thms 3.3-3.4 and
    Figure 1; docs/theory.md sections 2, 3 and 6.
    """
    samples = _validation.integer(samples, "samples", minimum=2)
    num_probes = _validation.integer(num_probes, "num_probes")
    estimate_draws = _validation.integer(estimate_draws, "estimate_draws", minimum=2)
    seed = base_seed(_validation.optional_seed(seed))
    if not model.built:
        raise ValueError("`model` must be built (call it once or give it an Input).")
    chain = layer_chain(model)
    if not chain.steps:
        raise ValueError("`model` has no layer that changes the norm: nothing to report.")
    messages = tuple(slope_mismatches(model))
    for message in messages if warn else ():
        warnings.warn(message, UserWarning, stacklevel=2)
    probes = probe_inputs(model, x, num_probes, probe_range, seed)
    require_nonzero_rows(probes, "signal_report measures log ||h_l|| - log ||x||")
    track = position_track(model)
    positions = (_tracked_positions(track, probes, chain.steps)
                 if track is not None and track.outputs else None)
    measured = _measure(model, chain, probes, samples, seed, positions)

    rows, estimates = [], {}
    cumulative_mean, cumulative_variance = 0.0, 0.0
    for index, step in enumerate(chain.steps):
        prediction = _predict_step(step, model, estimate_draws, seed, estimates)
        tracked = positions is not None and positions[1][index] is not None
        if tracked:
            prediction = dataclasses.replace(prediction, note=" ".join(filter(None, [
                "per position: log ||h(p)|| - log ||x(p0)|| at one position per probe, the "
                "input position p0 it reads through the centre taps.", prediction.note])))
        elif positions is not None:
            prediction = _Prediction(NONE, (
                "whole output, relative to log ||x(p0)||: the prediction stops at "
                f"{track.stop.name!r} ({type(track.stop).__name__}), which mixes positions "
                "(the theory follows one position of a convolutional chain)."
                if track.stop is not None else "whole output."))
        elif isinstance(step.layer, CONVOLUTIONS):
            prediction = _Prediction(NONE, (
                "a convolution on an input without channels-last spatial axes: positions "
                "are not followed, so no prediction."))
        note = prediction.note
        if prediction.kind == NONE or cumulative_mean is None:
            cumulative_mean = cumulative_variance = None
        else:
            cumulative_mean += prediction.gain_mean
            cumulative_variance += prediction.gain_std**2
        measured_mean, measured_std = _finite_moments(measured[:, :, index])
        zero = int(np.sum(~np.all(np.isfinite(measured[:, :, index]), axis=1)))
        if zero:
            note = (note + " " if note else "") + _zero_output_note(
                zero, samples, step.activation.slope)
        layer = step.layer
        kernel = getattr(layer, "kernel", None)
        initializer = getattr(layer, "kernel_initializer", None)
        rows.append(LayerSignal(
            name=layer.name,
            layer_type=type(layer).__name__,
            kernel_shape=tuple(int(d) for d in kernel.shape) if kernel is not None else None,
            initializer=type(initializer).__name__ if initializer is not None else "",
            scale=prediction.scale,
            activation=step.activation.description,
            slope=step.activation.slope,
            prediction=prediction.kind,
            gain_mean=prediction.gain_mean,
            gain_std=prediction.gain_std,
            predicted_mean=cumulative_mean,
            predicted_std=None if cumulative_variance is None else math.sqrt(cumulative_variance),
            measured_mean=measured_mean,
            measured_std=measured_std,
            note=note,
        ))
    return SignalReport(rows=tuple(rows), samples=samples, num_probes=num_probes, seed=seed,
                        log_norms=measured, warnings=messages)


# --------------------------------------------------------------------------
# Comparisons and the plot
# --------------------------------------------------------------------------

# The registry entries every model is compared with (keras_lyapunov.baselines).
COMPARISONS = ("he", "lyapunov-normal", "lyapunov-orthogonal")
CONVOLUTION_COMPARISONS = ("he", "lyapunov-delta-orthogonal")


def _with_initializer(model, make, layer_types=(keras.layers.Dense,)):
    """A clone of a chain model whose kernels of ``layer_types`` come from ``make(slope)``."""
    slopes = {step.layer.name: step.activation.slope for step in layer_chain(model).steps
              if isinstance(step.layer, layer_types)}

    def clone(layer):
        config = layer.get_config()
        slope = slopes.get(layer.name)
        if slope:  # a leaky ReLU or linear: the comparison is defined
            config["kernel_initializer"] = keras.saving.serialize_keras_object(make(slope))
        return type(layer).from_config(config)

    return keras.models.clone_model(model, clone_function=clone)


def _initializer_label(model, layer_types):
    names = {type(step.layer.kernel_initializer).__name__
             for step in layer_chain(model).steps if isinstance(step.layer, layer_types)}
    return names.pop() if len(names) == 1 else "this model"


def comparison_reports(model, x=None, *, samples=100, num_probes=16, seed=None, **kwargs):
    """Reports for the model and for the same architecture with He and Lyapunov kernels.

    Every Dense kernel is replaced by untruncated He (``std sqrt(2 / ((1 +
    slope**2) fan_in))``), LyapunovNormal and LyapunovOrthogonal in turn, each
    with the slope that follows the layer. In a model with convolutions
    (Conv1D/2D/3D), their kernels are replaced instead, by He and
    LyapunovDeltaOrthogonal.

    Args:
        model, x, samples, num_probes, seed, **kwargs: as :func:`signal_report`.

    Returns:
        A dict label -> :class:`SignalReport`, the model's own first; a
        comparison equal to the model's initializer is not repeated.
    """
    convolutional = any(isinstance(step.layer, CONVOLUTIONS) for step in layer_chain(model).steps)
    layer_types = CONVOLUTIONS if convolutional else (keras.layers.Dense,)
    label = _initializer_label(model, layer_types)
    reports = {label: signal_report(model, x, samples=samples, num_probes=num_probes,
                                    seed=seed, **kwargs)}
    own_law = {"LyapunovNormal": "lyapunov-normal",
               "LyapunovOrthogonal": "lyapunov-orthogonal",
               "LyapunovDeltaOrthogonal": "lyapunov-delta-orthogonal"}.get(label)
    for name in CONVOLUTION_COMPARISONS if convolutional else COMPARISONS:
        if name == own_law:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the clone's slopes are right by construction
            reports[INITIALIZERS[name].label] = signal_report(
                _with_initializer(model, INITIALIZERS[name], layer_types), x,
                samples=samples, num_probes=num_probes, seed=seed, **kwargs)
    return reports


def plot_signal(reports, path=None, *, traces=20):
    """Plots log-norm against depth: predicted mean +-1 std and measured traces.

    One panel per report (shared y axis): the measured
    ``log ||h_l|| - log ||x||`` of ``traces`` re-initialized networks (thin
    lines, first probe input), the measured mean (dashed), and the predicted
    mean with a +-1 standard-deviation band where the prediction exists.

    Args:
        reports: a :class:`SignalReport` or a dict label -> report (e.g. from
            :func:`comparison_reports`).
        path: if given, the figure is saved there (format from the suffix).
        traces: measured networks drawn per panel.

    Returns:
        The matplotlib Figure.

    Raises:
        ImportError: without matplotlib (``pip install 'keras_lyapunov[plot]'``).

    Example:
        >>> plot_signal(comparison_reports(model, seed=0), "signal.png")

    Reference: the paper's Figure 1 (arXiv:2602.10949).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("plot_signal needs matplotlib: pip install "
                          "'keras_lyapunov[plot]'") from error
    if isinstance(reports, SignalReport):
        reports = {"model": reports}
    traces = _validation.integer(traces, "traces")
    figure, axes = plt.subplots(1, len(reports), figsize=(3.6 * len(reports) + 0.8, 4.2),
                                sharey=True, squeeze=False, layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, ((label, report), ax) in enumerate(zip(reports.items(), axes[0])):
        color = colors[index % len(colors)]
        depth = np.arange(len(report.rows) + 1)
        for run in report.log_norms[:traces, 0, :]:
            ax.plot(depth, np.concatenate([[0.0], run]), color=color, alpha=0.3, lw=0.6)
        ax.plot(depth, [0.0] + [r.measured_mean for r in report.rows], color="black",
                lw=1.2, ls="--", label=f"measured mean ({report.samples} networks)")
        if report.rows[-1].predicted_mean is not None:
            mean = np.array([0.0] + [r.predicted_mean for r in report.rows])
            std = np.array([0.0] + [r.predicted_std for r in report.rows])
            kind = ESTIMATED if any(r.prediction == ESTIMATED for r in report.rows) else EXACT
            ax.plot(depth, mean, color=color, lw=2.2, label=f"predicted mean ({kind})")
            ax.fill_between(depth, mean - std, mean + std, color=color, alpha=0.2,
                            label="predicted +-1 std")
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.set_title(label, fontsize="medium")
        ax.set_xlabel("layer l")
        ax.legend(fontsize="x-small", loc="lower left")
    axes[0, 0].set_ylabel("log ||h_l|| - log ||x||")
    figure.suptitle("Signal through depth: prediction and measurement")
    if path is not None:
        figure.savefig(path, dpi=120)
    return figure
