"""Exact Lyapunov calculus of Dense layers followed by a leaky ReLU.

Pure NumPy/SciPy: this module imports no Keras, so the mathematics can be used,
tested and read on its own. Every formula is derived in ``docs/theory.md`` (cited by
section below) after Kogler, Schwarz and Kittle, "Optimal Initialization in
Depth: Lyapunov Initialization and Limit Theorems for Deep Leaky ReLU Networks",
arXiv:2602.10949 (2026).

A Dense kernel ``W`` of shape ``(fan_in, width)`` maps ``x`` to
``rho(x @ W)`` with ``rho(z) = z`` for ``z > 0`` and ``slope * z`` otherwise.
For Gaussian or (Haar) orthogonal ``W`` the per-layer log-gain
``log(||rho(x @ W)|| / ||x||)`` has a law that does not depend on ``x``
(docs/theory.md section 2), so a deep stack's log-norm is an exact sum of i.i.d.
terms. Its mean is the Lyapunov exponent and its standard deviation the
central-limit-theorem constant; both are computed here to about 1e-13.

How the numbers are computed. With ``theta`` uniform on the unit sphere of
``R^width`` let ``Z = log ||rho(theta)||**2``. Everything reduces to ``E Z``
and ``Var Z`` plus digamma/trigamma terms (docs/theory.md sections 2 and 3). Both
come from one integral (section 5): writing ``X = ||rho(g)||**2`` for ``g ~ N(0, I)`` and
``R = beta * chi2(width)`` with ``beta = (1 + slope**2) / 2``, the Mellin
identity ``Gamma(s) E[X**-s] = int t**(s-1) E[exp(-t X)] dt`` expanded at
``s = 0`` gives

    E Z   = log(beta) - G0
    Var Z = 2 (euler_gamma + digamma(m/2) - log(m/2)) G0 + 2 G1 - G0**2

with ``G0 = int D(u) du/u`` and ``G1 = int log(u) D(u) du/u``, where
``D(u) = E exp(-t X) - E exp(-t R)`` at ``t = u / (m beta)`` and
``E exp(-t X) = (((1+2t)**-0.5 + (1+2 slope**2 t)**-0.5) / 2)**m``. In
``y = log u`` the integrand is analytic in a strip and decays exponentially at
both ends, so the trapezoidal rule converges geometrically; a fixed step of
0.25 is accurate to rounding (checked against ``scipy.integrate.quad`` of the
Frullani form and against Monte Carlo in the tests). One evaluation costs
tens of microseconds for any width up to 10**12.

Common slopes are served from a table shipped with the package
(``keras_lyapunov/precomputed_moments.npz``, built by
``scripts/build_precomputed_table.py``), so building a model with them
integrates nothing. Results of scalar calls are cached.
"""

import functools
import math
import numbers
import os

import numpy as np
from scipy import special

from keras_lyapunov import _validation

__all__ = [
    "DISTRIBUTIONS",
    "PAPER_WIDTHS",
    "PRECOMPUTED_SLOPES",
    "lyapunov_exponent",
    "critical_scale",
    "log_gain_std",
    "he_scale",
    "he_variance_factor",
    "gaussian_log_norm_mean",
    "recommended_k",
    "sphere_log_moments",
    "sphere_log_moments_by_quadrature",
    "validate_slope",
    "validate_widths",
]

DISTRIBUTIONS = ("normal", "orthogonal")

# The 35 widths of the paper's lookup tables (Appendix D.3).
PAPER_WIDTHS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 20, 30, 32, 40, 50, 60, 64, 70, 80,
    90, 100, 128, 200, 256, 300, 400, 500, 512, 600, 700, 800, 900, 1000, 1024,
)  # fmt: skip

# slope**2 must be a positive, finite, normal float for the quadrature.
MIN_ABS_SLOPE = 1e-150
MAX_ABS_SLOPE = 1e150
MAX_WIDTH = 10**12
MAX_CANDIDATES = 10**12  # recommended_k refuses to answer above this

_LOG2 = math.log(2.0)
_STEP = 0.25  # trapezoidal step in y = log u (0.35 starts to lose digits)
_Y_LOWER = -20.0  # D(u) = O(u**2 / m) below: < 1e-17
_LOG_TAIL = math.log(1e-18)  # both Laplace transforms are below this at the top
_Y_UPPER_MIN = 5.0

PRECOMPUTED_TABLE_PATH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "precomputed_moments.npz"
)


# --------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------


def validate_slope(slope, name="slope"):
    """Checks a leaky-ReLU slope and returns it as a Python float.

    Args:
        slope: any real number except 0 (negative slopes allowed) with
            ``1e-150 <= |slope| <= 1e150``.
        name: argument name used in error messages.

    Returns:
        ``float(slope)``.

    Raises:
        ValueError: naming the argument and the valid range.
    """
    if isinstance(slope, (bool, np.bool_)) or not isinstance(slope, numbers.Real):
        raise ValueError(
            f"`{name}` must be a real number (the leaky-ReLU negative slope), "
            f"with {MIN_ABS_SLOPE:g} <= |{name}| <= {MAX_ABS_SLOPE:g}. "
            f"Received: {name}={slope!r} of type {type(slope).__name__}."
        )
    value = float(slope)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(
            f"`{name}` must be finite, with {MIN_ABS_SLOPE:g} <= |{name}| <= "
            f"{MAX_ABS_SLOPE:g}. Received: {name}={value!r}."
        )
    if value == 0.0:
        raise ValueError(
            f"`{name}` must be nonzero. {name}=0 is the plain ReLU, whose "
            "Lyapunov exponent is minus infinity (each layer outputs exactly "
            "zero with probability 2**-width, so E log ||h|| = -inf): no finite "
            "scale makes it zero. Use a leaky ReLU, e.g. slope=0.01. Valid "
            f"range: {MIN_ABS_SLOPE:g} <= |{name}| <= {MAX_ABS_SLOPE:g}."
        )
    if not MIN_ABS_SLOPE <= abs(value) <= MAX_ABS_SLOPE:
        raise ValueError(
            f"`{name}` must satisfy {MIN_ABS_SLOPE:g} <= |{name}| <= "
            f"{MAX_ABS_SLOPE:g}. Received: {name}={value!r}."
        )
    return value


def _validate_distribution(distribution):
    return _validation.one_of(distribution, "distribution", DISTRIBUTIONS)


def validate_widths(width, name="width"):
    """Checks a width (or array of widths) and returns it as an int64 array.

    Args:
        width: integer, integral float, or array-like of them, each in
            ``1 <= width <= 1e12`` (booleans rejected).
        name: argument name used in error messages.

    Returns:
        An int64 NumPy array of the same shape.

    Raises:
        ValueError: naming the argument and the valid range.
    """
    message = (
        f"`{name}` must be an integer (or an array of integers) with "
        f"1 <= {name} <= {MAX_WIDTH:.0e}. Received: {name}={width!r}."
    )
    if isinstance(width, (bool, np.bool_)):
        raise ValueError(message)
    try:
        array = np.asarray(width)
    except Exception as error:  # ragged lists and the like
        raise ValueError(message) from error
    if array.dtype.kind in "iu":
        integers = array.astype(np.int64)
    elif array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise ValueError(message)
        if np.any(np.abs(array) > MAX_WIDTH):
            raise ValueError(message)
        integers = array.astype(np.int64)
    else:
        raise ValueError(message)
    if integers.size == 0 or np.any(integers < 1) or np.any(integers > MAX_WIDTH):
        raise ValueError(message)
    return integers


def _validate_scale(scale):
    message = (
        "`scale` must be a positive finite real number (or array of them): "
        f"0 < scale < inf. Received: scale={scale!r}."
    )
    if isinstance(scale, (bool, np.bool_)):
        raise ValueError(message)
    try:
        array = np.asarray(scale)
    except Exception as error:
        raise ValueError(message) from error
    if array.dtype.kind not in "iuf":
        raise ValueError(message)
    array = array.astype(np.float64)
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(message)
    return array


# --------------------------------------------------------------------------
# E Z and Var Z for Z = log ||rho(theta)||**2, theta uniform on the sphere
# --------------------------------------------------------------------------


def sphere_log_moments_by_quadrature(width, slope_squared):
    """``(E Z, Var Z)`` by the trapezoidal rule of the module docstring, never from the table.

    :func:`sphere_log_moments` serves the shipped table where it can; this always
    integrates (``scripts/build_precomputed_table.py`` builds the table with it).

    Args:
        width: an int >= 1 (not validated: use :func:`sphere_log_moments`).
        slope_squared: ``slope**2`` as a positive normal float.

    Returns:
        ``(mean, variance)`` as Python floats, accurate to about 1e-13.
    """
    if slope_squared == 1.0:  # rho(z) = z or |z|: ||rho(theta)|| = 1, Z = 0
        return 0.0, 0.0
    m = float(width)
    beta = 0.5 * (1.0 + slope_squared)
    log_kappa = math.log(m) + math.log(beta)
    # Upper end: both Laplace transforms are below (1 + 2 a t)**(-m/2) with
    # a = min(1, slope**2); stop where that bound drops under exp(_LOG_TAIL).
    a = min(1.0, slope_squared)
    x = -2.0 * _LOG_TAIL / m
    log_t_upper = x + math.log(-math.expm1(-x)) - math.log(2.0 * a)
    y_upper = max(log_kappa + log_t_upper, _Y_UPPER_MIN)
    y = np.arange(_Y_LOWER, y_upper + _STEP, _STEP)
    log_t = y - log_kappa

    # log of (1 + 2 c t)**-0.5, stable for every t (no overflow of t itself).
    log_a = -0.5 * np.logaddexp(0.0, _LOG2 + log_t)
    log_b = -0.5 * np.logaddexp(0.0, math.log(2.0 * slope_squared) + log_t)
    log_r = -0.5 * np.logaddexp(0.0, math.log(2.0 * beta) + log_t)
    # log of the mean of the two: log1p keeps full relative accuracy for
    # small t, where the two laws below nearly cancel.
    q = 0.5 * (np.expm1(log_a) + np.expm1(log_b))
    log_phi = np.logaddexp(log_a, log_b) - _LOG2
    near_one = q > -0.5
    log_phi[near_one] = np.log1p(q[near_one])
    log_laplace_x = m * log_phi
    log_laplace_r = m * log_r
    diff = log_laplace_x - log_laplace_r
    d = (
        np.sign(diff)
        * np.exp(np.maximum(log_laplace_x, log_laplace_r))
        * -np.expm1(-np.abs(diff))
    )
    g0 = _STEP * float(np.sum(d))
    g1 = _STEP * float(np.sum(y * d))
    mean = math.log(beta) - g0
    digamma_gap = float(special.digamma(0.5 * m)) - math.log(0.5 * m)
    variance = 2.0 * (np.euler_gamma + digamma_gap) * g0 + 2.0 * g1 - g0 * g0
    # Var Z >= 0; when Z is almost constant (slope**2 near 1) rounding of
    # order 1e-16 may cross zero.
    variance = max(variance, 0.0)
    if not (math.isfinite(mean) and math.isfinite(variance)):
        raise ArithmeticError(
            f"non-finite Lyapunov moments for width={width}, "
            f"slope**2={slope_squared!r}; please report this."
        )
    return mean, variance


def _load_precomputed():
    """slope**2 -> (E Z, Var Z) arrays indexed by width - 1."""
    if not os.path.exists(PRECOMPUTED_TABLE_PATH):
        return {}, ()
    with np.load(PRECOMPUTED_TABLE_PATH) as data:
        slopes = tuple(float(s) for s in data["slopes"])
        table = {
            slope * slope: (data["mean"][i].copy(), data["variance"][i].copy())
            for i, slope in enumerate(slopes)
        }
    return table, slopes


_PRECOMPUTED, PRECOMPUTED_SLOPES = _load_precomputed()


@functools.lru_cache(maxsize=1 << 16)
def _sphere_log_moments_cached(width, slope_squared):
    row = _PRECOMPUTED.get(slope_squared)
    if row is not None and width <= row[0].shape[0]:
        return float(row[0][width - 1]), float(row[1][width - 1])
    return sphere_log_moments_by_quadrature(width, slope_squared)


def _sphere_log_moments_array(widths, slope_squared):
    unique, inverse = np.unique(widths, return_inverse=True)
    moments = np.array(
        [_sphere_log_moments_cached(int(w), slope_squared) for w in unique]
    )
    return (
        moments[:, 0][inverse].reshape(widths.shape),
        moments[:, 1][inverse].reshape(widths.shape),
    )


def sphere_log_moments(width, slope):
    """Mean and variance of ``Z = log ||rho(theta)||**2`` on the unit sphere.

    ``theta`` is uniform on the unit sphere of ``R^width`` (docs/theory.md section
    2). This is the building block of every other quantity here.

    Args:
        width: integer or array of integers, ``1 <= width <= 1e12``.
        slope: the leaky-ReLU slope (nonzero real).

    Returns:
        ``(mean, variance)``: floats for a scalar width, else arrays.

    Example:
        >>> mean, variance = sphere_log_moments(10, 0.01)
    """
    slope = validate_slope(slope)
    widths = validate_widths(width, "width")
    mean, variance = _sphere_log_moments_array(widths, slope * slope)
    return _unwrap(mean), _unwrap(variance)


def _trigamma(x):
    return special.zeta(2.0, x)


def _unwrap(array):
    return float(array) if np.ndim(array) == 0 else array


# --------------------------------------------------------------------------
# Per-layer log-gain of a Dense kernel (docs/theory.md section 3)
# --------------------------------------------------------------------------


def _layer_log_gain_moments(width, slope, distribution, fan_in):
    """Mean at unit scale and variance of the per-layer log-gain (arrays)."""
    slope = validate_slope(slope)
    distribution = _validate_distribution(distribution)
    m = validate_widths(width, "width")
    n = m if fan_in is None else validate_widths(fan_in, "fan_in")
    m, n = np.broadcast_arrays(m, n)
    mean_z, var_z = _sphere_log_moments_array(m, slope * slope)
    half_m = 0.5 * m
    if distribution == "normal":
        # log ||rho(x W)|| = log ||x|| + log sigma + 0.5 log ||g||^2 + 0.5 Z
        mean = 0.5 * (special.digamma(half_m) + _LOG2 + mean_z)
        variance = 0.25 * (_trigamma(half_m) + var_z)
    else:
        # Keras convention: ||x W||^2 / ||x||^2 ~ Beta(m/2, (n-m)/2) if n > m,
        # else exactly 1; the direction of x W is uniform on the sphere.
        half_max = 0.5 * np.maximum(m, n)
        mean = 0.5 * (special.digamma(half_m) - special.digamma(half_max) + mean_z)
        variance = 0.25 * (var_z + _trigamma(half_m) - _trigamma(half_max))
    return mean, variance


def _checked_scale(mean):
    scale = np.exp(-np.asarray(mean, dtype=np.float64))
    if not np.all(np.isfinite(scale)):  # cannot happen in the valid range
        raise ArithmeticError("non-finite critical scale; please report this.")
    return _unwrap(scale)


def _array_quantity(quantity, width, slope, distribution, fan_in):
    mean, variance = _layer_log_gain_moments(width, slope, distribution, fan_in)
    if quantity == "mean":
        return _unwrap(mean)
    if quantity == "critical_scale":
        return _checked_scale(mean)
    return _unwrap(np.sqrt(variance))


@functools.lru_cache(maxsize=1 << 16, typed=True)
def _cached_quantity(quantity, width, slope, distribution, fan_in):
    return _array_quantity(quantity, width, slope, distribution, fan_in)


def _quantity(quantity, width, slope, distribution, fan_in):
    """Scalar calls are served from a typed cache (1 and True stay apart)."""
    if isinstance(width, (int, np.integer)) and (
        fan_in is None or isinstance(fan_in, (int, np.integer))
    ):
        try:
            return _cached_quantity(quantity, width, slope, distribution, fan_in)
        except TypeError:  # unhashable slope or distribution: validate below
            pass
    return _array_quantity(quantity, width, slope, distribution, fan_in)


def lyapunov_exponent(width, slope, *, distribution="normal", scale, fan_in=None):
    """Lyapunov exponent of a Dense kernel followed by a leaky ReLU.

    The exponent is the exact mean per-layer log-norm gain
    ``E log(||rho(x @ W)|| / ||x||)`` (the same for every ``x != 0``); in a
    deep stack of such layers ``log ||h_L|| ~ L * exponent``.

    Args:
        width: number of units (``fan_out``); integer or array of integers,
            ``1 <= width <= 1e12``.
        slope: leaky-ReLU negative slope, any nonzero real
            (``1e-150 <= |slope| <= 1e150``).
        distribution: ``"normal"`` for i.i.d. ``N(0, scale**2)`` entries, or
            ``"orthogonal"`` for ``scale`` times a Haar orthogonal matrix in
            Keras's convention (orthonormal columns if ``fan_in >= width``,
            else orthonormal rows).
        scale: the standard deviation (normal) or gain (orthogonal); positive,
            scalar or array broadcasting against ``width``.
        fan_in: input dimension; ``None`` means a square ``width x width``
            kernel. Broadcasts against ``width``.

    Returns:
        A float, or an array of the broadcast shape.

    Example:
        >>> import math
        >>> he = math.sqrt(2 / ((1 + 0.01**2) * 10))
        >>> round(lyapunov_exponent(10, 0.01, scale=he), 3)
        -0.157

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Thm 3.3; docs/theory.md
    section 3.
    """
    mean = _quantity("mean", width, slope, distribution, fan_in)
    if (
        isinstance(scale, (float, int, np.floating, np.integer))
        and not isinstance(scale, (bool, np.bool_))
        and 0 < scale < math.inf
    ):
        return mean + math.log(scale)
    return _unwrap(np.log(_validate_scale(scale)) + mean)


def critical_scale(width, slope, *, distribution="normal", fan_in=None):
    """The scale that makes the Lyapunov exponent exactly zero.

    ``sigma_crit`` (standard deviation of a Gaussian kernel) for
    ``distribution="normal"``; ``eta_crit`` (gain of an orthogonal kernel) for
    ``"orthogonal"``. Exact for every rectangular shape ``(fan_in, width)``.

    Args:
        width: number of units; integer or array, ``1 <= width <= 1e12``.
        slope: leaky-ReLU negative slope, any nonzero real.
        distribution: ``"normal"`` or ``"orthogonal"``.
        fan_in: input dimension, ``None`` for a square kernel.

    Returns:
        A positive finite float, or an array of them.

    Example:
        >>> round(critical_scale(10, 0.1), 7)
        0.5142106

    Reference: arXiv:2602.10949, Sec. 4 (Lyapunov initialization) and
    Appendix D.3; docs/theory.md section 3 for rectangular kernels.
    """
    return _quantity("critical_scale", width, slope, distribution, fan_in)


def log_gain_std(width, slope, *, distribution="normal", fan_in=None):
    """Standard deviation of the per-layer log-norm gain.

    For a stack of ``L`` identical layers, ``log ||h_L|| - log ||h_0||`` is a
    sum of ``L`` i.i.d. gains, so its standard deviation is
    ``sqrt(L) * log_gain_std`` exactly (the CLT constant ``s`` of the paper's
    Thm 3.4). It does not depend on the scale.

    Args:
        width: number of units; integer or array, ``1 <= width <= 1e12``.
        slope: leaky-ReLU negative slope, any nonzero real.
        distribution: ``"normal"`` or ``"orthogonal"``.
        fan_in: input dimension, ``None`` for a square kernel.

    Returns:
        A non-negative float, or an array of them.

    Example:
        >>> round(log_gain_std(10, 0.01), 3)
        0.479

    Reference: arXiv:2602.10949, Thm 3.4; docs/theory.md sections 3 and 4.
    """
    return _quantity("std", width, slope, distribution, fan_in)


def he_scale(fan_in, slope, *, distribution="normal"):
    """He (Kaiming) scale for a leaky ReLU, as used in the paper's tables.

    ``sqrt(2 / ((1 + slope**2) * fan_in))`` for Gaussian kernels and the
    "scaled orthogonal" gain ``sqrt(2 / (1 + slope**2))`` for orthogonal ones.
    (Keras's ``HeNormal`` ignores the slope and truncates the Gaussian.)

    Args:
        fan_in: input dimension; integer or array.
        slope: leaky-ReLU negative slope, any nonzero real.
        distribution: ``"normal"`` or ``"orthogonal"``.

    Returns:
        A float or an array.

    Example:
        >>> round(he_scale(10, 0.1), 7)
        0.4449942
    """
    distribution = _validate_distribution(distribution)
    n = validate_widths(fan_in, "fan_in")
    gain = math.sqrt(he_variance_factor(slope))
    if distribution == "orthogonal":
        return _unwrap(np.full(n.shape, gain))
    return _unwrap(gain / np.sqrt(n))


def he_variance_factor(slope):
    """The He factor ``2 / (1 + slope**2)`` of a leaky ReLU.

    Gaussian He kernels have variance ``factor / fan_in``, scaled orthogonal
    ones the gain ``sqrt(factor)`` (docs/theory.md section 3, "Standard
    initializations"): the factor that keeps ``E ||h||**2`` constant in depth.

    Args:
        slope: leaky-ReLU negative slope, any nonzero real.

    Returns:
        A float.

    Example:
        >>> he_variance_factor(1.0)
        1.0
    """
    slope = validate_slope(slope)
    return 2.0 / (1.0 + slope * slope)


def gaussian_log_norm_mean(width):
    """``c(m) = E log ||g||`` for ``g ~ N(0, I_m)``: ``(digamma(m/2) + log 2)/2``.

    Args:
        width: integer or array of integers.

    Returns:
        A float or an array.

    Example:
        >>> round(gaussian_log_norm_mean(10), 7)
        1.0996324
    """
    m = validate_widths(width, "width")
    return _unwrap(0.5 * (special.digamma(0.5 * m) + _LOG2))


def recommended_k(depth, width, slope, *, distribution="normal", tolerance=math.log(2.0),
                  probability=0.9):
    """Number of candidates for Sampled Lyapunov initialization.

    At the critical scale the log output-norm gain of ``depth`` square layers
    is a sum of ``depth`` i.i.d. terms with mean 0 and standard deviation
    ``s = log_gain_std(width, slope)`` (docs/theory.md sections 2 and 4), so by the
    CLT (paper, Thm 3.4) one candidate lands within ``tolerance`` with
    probability ``p = erf(tolerance / (sqrt(2 depth) s))``. The best of ``k``
    independent candidates does so with probability ``1 - (1 - p)**k``; this
    returns the smallest ``k`` that reaches ``probability``. For large depth
    ``k ~ sqrt(depth)``, the paper's O(sqrt(depth)) rule.

    The law of the sum is taken as Gaussian with its exact variance; for depth
    of about 10 and more that is accurate to the precision of a simulation
    with a few thousand trials (tested).

    Args:
        depth: number of layers, an integer >= 1 (an integral float such as 100.0 too).
        width: layer width, an integer >= 1 (an integral float too, as every width here).
        slope: leaky-ReLU negative slope, any nonzero real.
        distribution: ``"normal"`` or ``"orthogonal"``.
        tolerance: the accepted ``|log(||N(x)|| / ||x||)|``, > 0 (natural log;
            the default ``log 2`` means "within a factor of 2").
        probability: the wanted probability that the best candidate is within
            ``tolerance``, in (0, 1).

    Returns:
        An int >= 1.

    Raises:
        ValueError: naming the argument, for invalid arguments, and for a
            ``tolerance`` so small that more than ``MAX_CANDIDATES`` (1e12)
            candidates would be needed.

    Example:
        >>> recommended_k(100, 10, 0.01)
        19

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Thm 3.4 and Sec. 4.
    """
    depth = _validation.whole_number(depth, "depth")
    width = _validation.whole_number(width, "width")  # as every width above
    tolerance = _validation.positive_finite(tolerance, "tolerance", what="a finite number > 0")
    probability = _validation.open_unit(probability, "probability")
    spread = math.sqrt(depth) * log_gain_std(width, slope, distribution=distribution)
    if spread == 0.0:  # slope**2 == 1 and width == 1... a deterministic gain
        return 1
    hit = float(special.erf(tolerance / (math.sqrt(2.0) * spread)))
    if hit >= probability:
        return 1
    log_miss = math.log1p(-hit)  # log P(one candidate misses), < 0 unless hit underflows
    needed = math.log1p(-probability) / log_miss if log_miss < 0.0 else math.inf
    if not needed <= MAX_CANDIDATES:
        raise ValueError(
            f"`tolerance` is too small: with tolerance={tolerance!r} one candidate lands "
            f"within it with probability {hit:.3g}, so more than {MAX_CANDIDATES:.0e} "
            f"candidates (about {needed:.3g}) would be needed. Use a larger tolerance (the "
            "default log 2 means within a factor of 2).")
    k = math.ceil(needed)
    # The ceiling can overshoot by one through rounding; the check is exact enough
    # for k below 2**53, and a few steps at most (never a loop over k).
    for _ in range(2):
        if k > 1 and -math.expm1((k - 1) * log_miss) >= probability:
            k -= 1
    return int(k)
