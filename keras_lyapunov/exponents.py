"""The measured Lyapunov exponent of any Keras layer or block, and the scale that makes it zero.

The theory gives the exponent of a Dense layer exactly (:mod:`keras_lyapunov.theory`);
for anything else (a Gaussian convolution, a residual block, a user's own layer)
:func:`measure_exponent` estimates it by Monte Carlo: a chain of independent
copies of the layer, each with its kernels re-drawn from their own
initializers, is run on a batch of inputs, and the mean log-gain per layer,
after a burn-in, is the estimate, with a batch-means standard error and a test
of whether the chain is stationary yet. :func:`calibrate_scale` returns the
factor on the kernels that makes the exponent zero: ``exp(-lambda)`` exactly
when the layer is positively homogeneous in its kernels (bias-free Dense or
convolution, then a leaky ReLU; checked numerically), a root solve otherwise.
Nothing of the layer is changed: every forward pass is stateless.
"""

import dataclasses
import math

import keras
import numpy as np
import scipy.optimize

from keras_lyapunov import _seeds, _validation
from keras_lyapunov._candidates import CandidateDrawer, selected_kernels
from keras_lyapunov._forward import compile_function, stateless_outputs
from keras_lyapunov._probes import log_norms
from keras_lyapunov._seeds import base_seed, derive_seed

__all__ = ["Calibration", "ExponentEstimate", "calibrate_scale", "measure_exponent"]

# Streams under a measurement's seed.
_INPUTS = 0  # the chains' starting inputs, (seed, 0)
_LAYERS = 1  # the kernels of layer t of the chain, (seed, 1, t)
_BATCHES = 8  # batch means for the standard error
_HOMOGENEITY_TOLERANCE = 1e-4  # relative; float32 arithmetic


@dataclasses.dataclass(frozen=True)
class ExponentEstimate:
    """A Monte Carlo estimate of a layer's Lyapunov exponent (mean log-gain per layer).

    Attributes:
        exponent: the mean of ``log ||f(h)|| - log ||h||`` per layer after the burn-in.
        standard_error: its standard error, from 8 batch means of the steps.
        gain_std: the standard deviation of one layer's log-gain (over steps and chains).
        steps: layers measured after the burn-in; chains: inputs run side by side.
        chained: whether the layer was chained (its output has its input's shape);
            if not, every step applies one fresh layer to the starting inputs.
        stationary: whether the two halves of the steps agree within 3 standard
            errors of their difference, each from the 4 batch means inside it
            (always True when not chained).
        drift: second-half mean minus first-half mean.
        homogeneous: whether the layer is positively homogeneous in its kernels
            (``f_{cW} = c f_W`` for ``c > 0``), checked on the inputs.
        scale: the factor the kernels were multiplied by.
        note: what the estimate means, and warnings.
    """

    exponent: float
    standard_error: float
    gain_std: float
    steps: int
    chains: int
    chained: bool
    stationary: bool
    drift: float
    homogeneous: bool
    scale: float
    note: str

    def __str__(self):
        return (f"lambda = {self.exponent:+.5f} +- {self.standard_error:.5f} per layer "
                f"({self.steps} layers x {self.chains} chains"
                f"{'' if self.stationary else ', NOT stationary'}). {self.note}")


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The kernel factor that makes a layer's measured exponent equal the target.

    Attributes:
        factor: multiply the layer's kernels (its kernel initializer's standard
            deviation or gain) by this.
        method: ``"exact"`` (``exp(target - lambda)``, the layer is positively
            homogeneous in its kernels) or ``"root"`` (a root solve of the
            measured exponent, with the same draws at every factor).
        before: the :class:`ExponentEstimate` at factor 1.
        after: an estimate at ``factor`` with independent draws (a check).
        standard_error: of ``log(factor)``: the exponent's standard error
            divided by the slope of the exponent in ``log(factor)`` (1 when exact).
    """

    factor: float
    method: str
    before: ExponentEstimate
    after: ExponentEstimate
    standard_error: float


def _block(layer, input_shape):
    if isinstance(layer, keras.Model) and getattr(layer, "inputs", None):
        return layer
    if not isinstance(layer, keras.layers.Layer):
        raise ValueError(f"`layer` must be a Keras layer or model; received {layer!r}.")
    return keras.Sequential([keras.Input(input_shape), layer])


def _inputs(probes, input_shape, chains, seed):
    if probes is not None:
        probes = np.asarray(keras.ops.convert_to_numpy(probes), dtype="float32")
        if probes.ndim < 2 or probes.shape[0] < 1:
            raise ValueError("`probes` must be a batch of inputs, shape (n, *input_shape); "
                             f"received shape {probes.shape}.")
        if not np.all(np.any(probes.reshape(len(probes), -1) != 0, axis=1)):
            raise ValueError("`probes` contains an all-zero input: its log-gain is undefined.")
        return probes
    if input_shape is None:
        raise ValueError("Pass `input_shape` (without the batch axis) or `probes`.")
    rng = np.random.default_rng(derive_seed(seed, _INPUTS))
    return rng.standard_normal((chains, *input_shape)).astype("float32")


def _step_function(block, place):
    ops = keras.ops

    def step(batches, singles, trainable, non_trainable, x, factor, target_norms):
        trainable = place(trainable, batches, singles, factor)
        y = stateless_outputs(block, trainable, non_trainable, x)
        log_y = log_norms(y)
        gains = log_y - log_norms(x)
        ratio = ops.exp(target_norms - log_y)
        shape = (-1,) + (1,) * (len(ops.shape(y)) - 1)
        return gains, y * ops.cast(ops.reshape(ratio, shape), y.dtype)

    return compile_function(step)


class _Chain:
    """The compiled chain of one layer on fixed inputs and fixed draws (one seed)."""

    def __init__(self, layer, input_shape, probes, chains, seed):
        self.seed = seed
        if input_shape is None and probes is None and getattr(layer, "inputs", None):
            input_shape = tuple(layer.inputs[0].shape[1:])
        if input_shape is not None and not all(isinstance(d, int) and d >= 1
                                               for d in input_shape):
            raise ValueError("`input_shape` must be the input's shape without the batch axis, "
                             f"every dimension known. Received: input_shape={input_shape!r}.")
        self.x = _inputs(probes, input_shape, chains, seed)
        self.block = _block(layer, self.x.shape[1:])
        kernels = selected_kernels(self.block, "all")
        if not kernels:
            raise ValueError(
                f"`layer` {layer.name!r} has no trainable kernel with a seeded initializer: "
                "there is nothing random to measure.")
        self.drawer = CandidateDrawer(kernels)
        self.place = self.drawer.placer(self.block.trainable_variables)
        self.trainable = [v.value for v in self.block.trainable_variables]
        self.non_trainable = [v.value for v in self.block.non_trainable_variables]
        self.step = _step_function(self.block, self.place)
        output = self.block.compute_output_spec(keras.KerasTensor(self.x.shape))
        self.chained = tuple(output.shape) == tuple(self.x.shape)
        self.log_start = keras.ops.convert_to_tensor(np.log(np.linalg.norm(
            self.x.reshape(len(self.x), -1).astype("float64"), axis=1)).astype("float32"))

    def gains(self, steps, factor):
        """Log-gains, shape ``(steps, chains)``, of the chain at kernel factor ``factor``."""
        x = keras.ops.convert_to_tensor(self.x)
        factor = keras.ops.convert_to_tensor(np.float32(factor))
        out = np.empty((steps, len(self.x)))
        state = x
        for t in range(steps):
            batches, singles = self.drawer.draw(derive_seed(self.seed, _LAYERS, t))
            gains, y = self.step(batches, singles, self.trainable, self.non_trainable,
                                 state, factor, self.log_start)
            if self.chained:
                state = y
            out[t] = keras.ops.convert_to_numpy(gains)
            if not np.all(np.isfinite(out[t])):
                raise FloatingPointError(
                    f"the layer output was zero or not finite at step {t} (log-gain "
                    f"{out[t][~np.isfinite(out[t])][0]}): its exponent is not finite here "
                    "(ReLU-like death, overflow or NaN).")
        return out

    def homogeneous(self):
        """Whether doubling the kernels doubles the output, on the starting inputs."""
        batches, singles = self.drawer.draw(derive_seed(self.seed, _LAYERS, 0))
        x = keras.ops.convert_to_tensor(self.x)
        outputs = []
        for factor in (1.0, 2.0):
            outputs.append(np.asarray(keras.ops.convert_to_numpy(stateless_outputs(
                self.block, self.place(self.trainable, batches, singles, factor),
                self.non_trainable, x)), dtype="float64"))
        scale = max(np.max(np.abs(outputs[1])), np.finfo("float32").tiny)
        return bool(np.max(np.abs(outputs[1] - 2 * outputs[0])) <= _HOMOGENEITY_TOLERANCE * scale)


def _estimate(chain, gains, burn_in, factor, homogeneous):
    kept = gains[burn_in:] if chain.chained else gains
    per_step = kept.mean(axis=1)
    half = len(per_step) // 2
    halves = (per_step[:half], per_step[half:])
    # Batch means within each half: a trend shows as a difference of the halves,
    # larger than the spread of the batches inside them.
    means = [np.array([b.mean() for b in np.array_split(h, _BATCHES // 2)]) for h in halves]
    error = float(np.std(np.concatenate(means), ddof=1) / math.sqrt(_BATCHES))
    drift = float(halves[1].mean() - halves[0].mean())
    drift_error = math.sqrt(sum(np.var(m, ddof=1) / len(m) for m in means))
    stationary = not chain.chained or abs(drift) <= 3 * drift_error
    if chain.chained:
        note = (f"chained: each of {len(kept)} layers (after {burn_in} burn-in layers) is a "
                "fresh draw of the layer applied to the previous output, rescaled to the "
                "starting norm of its chain")
        if not homogeneous:
            note += (" (the layer is not positively homogeneous, so its exponent depends on "
                     "the signal's scale: this is the exponent at the inputs' scale)")
    else:
        note = ("not chained (the output's shape differs from the input's): the mean log-gain "
                "of fresh draws of the layer on the given inputs, which depends on them")
    if not stationary:
        note += (f". NOT stationary: the second half's mean differs from the first's by "
                 f"{drift:+.4f} ({abs(drift) / drift_error:.1f} standard errors); raise "
                 "`burn_in` and `steps`")
    return ExponentEstimate(
        exponent=float(per_step.mean()), standard_error=error,
        gain_std=float(np.std(kept, ddof=1)), steps=len(per_step), chains=kept.shape[1],
        chained=chain.chained, stationary=bool(stationary), drift=drift,
        homogeneous=homogeneous, scale=float(factor), note=note + ".")


def _checked(steps, burn_in, chains, seed, scale):
    steps = _validation.integer(steps, "steps", minimum=2 * _BATCHES)
    burn_in = _validation.integer(burn_in, "burn_in", minimum=0)
    chains = _validation.integer(chains, "chains")
    seed = base_seed(_validation.optional_seed(seed))
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (
            math.isfinite(scale) and scale > 0):
        raise ValueError(f"`scale` must be a finite number > 0. Received: scale={scale!r}.")
    return steps, burn_in, chains, seed, float(scale)


def measure_exponent(layer, input_shape=None, *, probes=None, steps=512, burn_in=32, chains=8,
                     seed=None, scale=1.0):
    """Monte Carlo estimate of the Lyapunov exponent of any Keras layer or block.

    The layer (or a model standing for a block, e.g. a residual block) is
    applied again and again with its kernels re-drawn from their own seeded
    initializers each time; the mean of ``log ||f(h)|| - log ||h||`` over the
    layers after a burn-in is the exponent. When the output has the input's
    shape the layer is chained (each application takes the previous output,
    rescaled to the chain's starting norm, which changes nothing for a
    positively homogeneous layer); otherwise each fresh layer is applied to
    the starting inputs. Biases and other variables keep their current
    values; the layer's variables are never written.

    Args:
        layer: a Keras layer (built or not) or a Functional/Sequential model.
        input_shape: the input shape without the batch axis, e.g. ``(28, 28, 8)``
            (default: a model's own input shape); the chains start from standard
            Gaussian inputs.
        probes: or the starting inputs themselves, shape ``(n, *input_shape)``.
        steps: layers measured after the burn-in, an integer >= 16.
        burn_in: layers discarded first (chained layers only), an integer >= 0.
        chains: Gaussian starting inputs when ``probes`` is None, an integer >= 1.
        seed: None or an integer >= 0 (inputs and draws).
        scale: factor on every re-drawn kernel, a number > 0.

    Returns:
        An :class:`ExponentEstimate`; ``stationary=False`` (and its note) says
        the estimate has not settled yet.

    Raises:
        ValueError: for bad arguments or a layer without a re-drawable kernel.
        FloatingPointError: if an output is zero or not finite (the exponent
            is not finite there).

    Example:
        >>> conv = keras.layers.Conv2D(8, 3, padding="same", use_bias=False,
        ...                            activation=keras.layers.LeakyReLU(0.01),
        ...                            kernel_initializer="he_normal")
        >>> print(measure_exponent(conv, (28, 28, 8), steps=256, seed=0))

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 3 (the exponent
    as the mean log-gain); docs/theory.md section 8.
    """
    steps, burn_in, chains, seed, scale = _checked(steps, burn_in, chains, seed, scale)
    chain = _Chain(layer, input_shape, probes, chains, seed)
    gains = chain.gains(steps + (burn_in if chain.chained else 0), scale)
    return _estimate(chain, gains, burn_in, scale, chain.homogeneous())


def calibrate_scale(layer, input_shape=None, *, probes=None, target=0.0, steps=512, burn_in=32,
                    chains=8, seed=None, bracket=(1e-3, 1e3)):
    """The factor on a layer's kernels that makes its measured exponent ``target``.

    For a layer positively homogeneous in its kernels (checked numerically:
    doubling the kernels doubles the output, e.g. a bias-free Dense or
    convolution followed by a leaky ReLU) every log-gain shifts by
    ``log(factor)``, so the factor is exactly ``exp(target - lambda)``. For any
    other layer (biases, residual sums, saturating activations) the measured
    exponent is solved for the factor (Brent's method on ``log(factor)``
    within ``bracket``, with the same draws at every factor, so the function
    solved is deterministic).

    Args:
        layer, input_shape, probes, steps, burn_in, chains, seed: as for
            :func:`measure_exponent`.
        target: the exponent wanted, a finite number (0: Lyapunov initialization).
        bracket: ``(low, high)`` factors for the root solve, 0 < low < high.

    Returns:
        A :class:`Calibration`; multiply the kernel initializer's standard
        deviation or gain by ``factor``.

    Raises:
        ValueError: for bad arguments, or if the exponent does not cross
            ``target`` within ``bracket``.

    Example:
        >>> dense = keras.Sequential([keras.Input((10,)), keras.layers.Dense(
        ...     10, use_bias=False, kernel_initializer=keras.initializers.RandomNormal(1.0)),
        ...     keras.layers.LeakyReLU(0.01)])
        >>> calibrate_scale(dense, steps=2048, seed=0).factor  # ~ sigma_crit(10, 0.01)

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4 (the critical
    scale exp(-lambda) of Dense layers); docs/theory.md section 8.
    """
    steps, burn_in, chains, seed, _ = _checked(steps, burn_in, chains, seed, 1.0)
    target = float(target)
    if not math.isfinite(target):
        raise ValueError(f"`target` must be finite. Received: target={target!r}.")
    low, high = (float(b) for b in bracket)
    if not 0 < low < high or not math.isfinite(high):
        raise ValueError(f"`bracket` must be (low, high) with 0 < low < high. Received: {bracket!r}.")
    chain = _Chain(layer, input_shape, probes, chains, seed)
    homogeneous = chain.homogeneous()
    total = steps + (burn_in if chain.chained else 0)
    before = _estimate(chain, chain.gains(total, 1.0), burn_in, 1.0, homogeneous)
    if homogeneous:
        factor, method, slope = math.exp(target - before.exponent), "exact", 1.0
    else:
        def excess(log_factor):
            gains = chain.gains(total, math.exp(log_factor))
            return _estimate(chain, gains, burn_in, 1.0, False).exponent - target

        low_value, high_value = excess(math.log(low)), excess(math.log(high))
        if low_value * high_value > 0:
            raise ValueError(
                f"the measured exponent minus the target is {low_value:+.4f} at factor {low} "
                f"and {high_value:+.4f} at factor {high}: no root in `bracket`; widen it.")
        log_factor = scipy.optimize.brentq(excess, math.log(low), math.log(high), xtol=1e-4)
        factor, method = math.exp(log_factor), "root"
        step = 0.05
        slope = (excess(log_factor + step) - excess(log_factor - step)) / (2 * step)
    check = _Chain(layer, input_shape, probes, chains, derive_seed(seed, _seeds.ESTIMATES, 0))
    after = _estimate(check, check.gains(total, factor), burn_in, factor, homogeneous)
    error = before.standard_error / abs(slope) if slope else math.inf
    return Calibration(factor=factor, method=method, before=before, after=after,
                       standard_error=float(error))
