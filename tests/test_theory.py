"""Tests of keras_lyapunov.theory against independent references.

References used (none copied from the implementation): the paper's table
(../shared/reference), scipy.integrate.quad of the Frullani form of I(m, a)
(docs/theory.md section 2), the exact Beta/Binomial decomposition of Z, closed forms
at special slopes, and Monte Carlo over real matrix draws.
"""

import csv
import math

import numpy as np
import pytest
from scipy import integrate, special

from keras_lyapunov import theory

TABLE_COLUMNS = {
    "I_unit_gaussian": lambda d, a: theory.lyapunov_exponent(d, a, scale=1.0),
    "E_log_norm_gaussian_vector": lambda d, a: theory.gaussian_log_norm_mean(d),
    "lambda_he": lambda d, a: theory.lyapunov_exponent(
        d, a, scale=theory.he_scale(d, a)
    ),
    "lambda_orthogonal_he_gain": lambda d, a: theory.lyapunov_exponent(
        d, a, distribution="orthogonal",
        scale=theory.he_scale(d, a, distribution="orthogonal"),
    ),
    "sigma_he": lambda d, a: theory.he_scale(d, a),
    "sigma_crit": lambda d, a: theory.critical_scale(d, a),
    "eta_crit": lambda d, a: theory.critical_scale(d, a, distribution="orthogonal"),
}


def test_paper_table_slope_0_1(reference_dir):
    with open(reference_dir / "paper_table_d3_slope0.1.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["width"]) for r in rows] == list(theory.PAPER_WIDTHS)
    for column, compute in TABLE_COLUMNS.items():
        expected = np.array([float(r[column]) for r in rows])
        widths = np.array([int(r["width"]) for r in rows])
        np.testing.assert_allclose(compute(widths, 0.1), expected, rtol=0, atol=1.5e-7,
                                   err_msg=column)


def frullani_exponent(m, slope):
    """I(m, a) = 1/2 int_0^inf [e^-t - phi(t)^m] dt/t by adaptive quadrature.

    Integrated in y = log t, decade by decade from t = 1e-14 to 1e60, so the
    slowly decaying tail of small widths and slopes is resolved.
    """
    a2 = slope * slope

    def integrand(y):
        t = math.exp(y)
        phi = 0.5 * ((1 + 2 * t) ** -0.5 + (1 + 2 * a2 * t) ** -0.5)
        return math.exp(-t) - phi**m

    edges = np.log(10.0) * np.arange(-14, 61)
    return 0.5 * sum(
        integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-12, limit=400)[0]
        for lo, hi in zip(edges[:-1], edges[1:])
    )


def test_width_one_closed_form():
    # X_1 = w g^2: I(1, a) = (E log g^2 + log|a|) / 2 = (digamma(1/2) + log 2 + log|a|) / 2
    for slope in (1e-4, 0.01, -0.3, 5.0):
        expected = 0.5 * (special.digamma(0.5) + math.log(2) + math.log(abs(slope)))
        assert abs(theory.lyapunov_exponent(1, slope, scale=1.0) - expected) < 1e-12


SLOPES = [-2.0, -0.5, 1e-4, 0.003, 0.07, 0.15, 0.25, 0.45, 0.8, 1.5, 10.0]


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_exponent_matches_frullani_quadrature_for_other_slopes(slope):
    for m in (1, 2, 3, 5, 10, 37, 100, 1000):
        exact = frullani_exponent(m, slope)
        assert abs(theory.lyapunov_exponent(m, slope, scale=1.0) - exact) < 1e-9, m
        # sigma_crit and eta_crit derived from it (docs/theory.md section 3).
        c = 0.5 * (special.digamma(m / 2) + math.log(2))
        assert abs(theory.critical_scale(m, slope) - math.exp(-exact)) < 1.5e-7 * max(
            1.0, math.exp(-exact))
        assert abs(theory.critical_scale(m, slope, distribution="orthogonal")
                   - math.exp(c - exact)) < 1e-8 * math.exp(c - exact)


def beta_route_moments(m, slope):
    """E Z and Var Z from Z = log(a^2 + (1 - a^2) B), B ~ Beta(K/2, (m-K)/2)."""
    a2 = slope * slope
    first = second = 0.0
    for k in range(m + 1):
        weight = special.comb(m, k) / 2.0**m
        if k in (0, m):
            z = math.log(a2) if k == 0 else 0.0
            first += weight * z
            second += weight * z * z
            continue
        p, q = k / 2, (m - k) / 2
        norm = special.beta(p, q)
        moments = []
        for power in (1, 2):
            value = integrate.quad(
                lambda b: math.log(a2 + (1 - a2) * b) ** power, 0, 1,
                weight="alg", wvar=(p - 1, q - 1), epsabs=1e-13, epsrel=1e-12,
            )[0]
            moments.append(value / norm)
        first += weight * moments[0]
        second += weight * moments[1]
    return first, second - first * first


@pytest.mark.parametrize("slope", [0.01, -0.3, 0.6, 3.0])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 7])
def test_variance_matches_beta_binomial_route(m, slope):
    mean_z, var_z = beta_route_moments(m, slope)
    got_mean, got_var = theory.sphere_log_moments(m, slope)
    assert abs(got_mean - mean_z) < 1e-9
    assert abs(got_var - var_z) < 1e-8
    # normal log-gain variance = (trigamma(m/2) + Var Z) / 4
    expected_std = math.sqrt(0.25 * (special.polygamma(1, m / 2) + var_z))
    assert abs(theory.log_gain_std(m, slope) - expected_std) < 1e-8


def test_closed_forms_at_special_slopes():
    widths = np.array([1, 2, 7, 100, 10**6])
    # slope = +-1: the activation is linear (or |.|), X = chi^2_m exactly.
    for slope in (1.0, -1.0):
        c = 0.5 * (special.digamma(widths / 2) + math.log(2))
        np.testing.assert_allclose(theory.lyapunov_exponent(widths, slope, scale=1.0),
                                   c, rtol=0, atol=1e-13)
        np.testing.assert_allclose(theory.log_gain_std(widths, slope),
                                   0.5 * np.sqrt(special.polygamma(1, widths / 2)),
                                   rtol=1e-12)
        assert np.all(theory.log_gain_std(widths, slope, distribution="orthogonal") == 0)
    # width 1 orthogonal: the gain is |eta| or |eta * a|, each with probability 1/2.
    for slope in (0.01, 0.3, -4.0):
        assert abs(theory.log_gain_std(1, slope, distribution="orthogonal")
                   - abs(math.log(abs(slope))) / 2) < 1e-12
        assert abs(theory.lyapunov_exponent(1, slope, distribution="orthogonal", scale=1.0)
                   - math.log(abs(slope)) / 2) < 1e-12


@pytest.mark.parametrize("slope", [0.01, 0.2, 0.7])
def test_inversion_symmetry(slope):
    # X(a) = a^2 X(1/a) in law, so I(m, a) = log|a| + I(m, 1/a).
    widths = np.array([1, 3, 10, 500])
    np.testing.assert_allclose(
        theory.lyapunov_exponent(widths, slope, scale=1.0),
        math.log(slope) + theory.lyapunov_exponent(widths, 1 / slope, scale=1.0),
        rtol=0, atol=1e-12)
    np.testing.assert_allclose(theory.log_gain_std(widths, slope),
                               theory.log_gain_std(widths, 1 / slope), rtol=1e-11)


@pytest.mark.parametrize("slope", [0.01, 0.1, 0.5])
def test_large_width_asymptotics(slope):
    # docs/theory.md section 3: lambda ~ -C / d + O(d^-2).
    a2 = slope * slope
    c_he = (5 - 2 * a2 + 5 * a2 * a2) / (4 * (1 + a2) ** 2)
    c_orth = 3 * (1 - a2) ** 2 / (4 * (1 + a2) ** 2)
    for d in (10**4, 10**5, 10**7):
        he = theory.lyapunov_exponent(d, slope, scale=theory.he_scale(d, slope))
        orth = theory.lyapunov_exponent(
            d, slope, distribution="orthogonal",
            scale=theory.he_scale(d, slope, distribution="orthogonal"))
        assert abs(he * d + c_he) < 20.0 / d
        assert abs(orth * d + c_orth) < 20.0 / d


def monte_carlo_log_gains(fan_in, width, slope, distribution, draws, seed):
    """log(||rho(x W)|| / ||x||) over `draws` independent kernels W."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(fan_in)
    gains = []
    chunk = 50_000
    for start in range(0, draws, chunk):
        count = min(chunk, draws - start)
        if distribution == "normal":
            w = rng.standard_normal((count, fan_in, width))
        else:
            a = rng.standard_normal((count, max(fan_in, width), min(fan_in, width)))
            q, r = np.linalg.qr(a)
            q = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
            w = q if fan_in >= width else np.swapaxes(q, 1, 2)
        y = np.einsum("i,kij->kj", x, w)
        y = np.where(y > 0, y, slope * y)
        gains.append(np.log(np.linalg.norm(y, axis=1) / np.linalg.norm(x)))
    return np.concatenate(gains)


@pytest.mark.parametrize(
    "fan_in,width,slope,distribution",
    [
        (10, 10, 0.01, "normal"),
        (25, 10, 0.2, "normal"),
        (10, 10, 0.01, "orthogonal"),
        (25, 10, 0.1, "orthogonal"),
        (4, 10, 0.3, "orthogonal"),
    ],
)
def test_mean_and_std_match_monte_carlo(fan_in, width, slope, distribution):
    draws = 1_000_000
    gains = monte_carlo_log_gains(fan_in, width, slope, distribution, draws, seed=width * 7 + fan_in)
    mean, std = gains.mean(), gains.std()
    centered = gains - mean
    se_var = np.sqrt(np.mean((centered**2 - centered.var()) ** 2) / draws)
    se_std = se_var / (2 * std)
    kwargs = dict(distribution=distribution, fan_in=fan_in)
    predicted_std = theory.log_gain_std(width, slope, **kwargs)
    predicted_mean = theory.lyapunov_exponent(width, slope, scale=1.0, **kwargs)
    assert abs(std - predicted_std) < 4 * se_std, (std, predicted_std, se_std)
    assert abs(mean - predicted_mean) < 4 * std / math.sqrt(draws)
    # at the critical scale the mean gain is zero
    critical = theory.critical_scale(width, slope, **kwargs)
    assert abs(mean + math.log(critical)) < 4 * std / math.sqrt(draws)


def test_vectorized_broadcasting_matches_scalar_calls():
    widths = np.array([[1, 2, 3], [10, 2048, 10**7]])
    fan_in = np.array([5, 1, 4000])
    for distribution in theory.DISTRIBUTIONS:
        for fn in (theory.critical_scale, theory.log_gain_std):
            got = fn(widths, 0.05, distribution=distribution, fan_in=fan_in)
            assert got.shape == widths.shape
            expected = [[fn(int(w), 0.05, distribution=distribution, fan_in=int(n))
                         for w, n in zip(row, fan_in)] for row in widths]
            np.testing.assert_allclose(got, expected, rtol=1e-14)
    # list and tuple inputs behave as arrays
    assert np.allclose(theory.critical_scale([1, 2], 0.1), theory.critical_scale((1, 2), 0.1))
    scales = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(
        theory.lyapunov_exponent(10, 0.1, scale=scales),
        np.log(scales) + theory.lyapunov_exponent(10, 0.1, scale=1.0), rtol=1e-14)


def test_normal_exponent_does_not_depend_on_fan_in():
    assert theory.critical_scale(10, 0.1, fan_in=784) == theory.critical_scale(10, 0.1)
    assert theory.log_gain_std(10, 0.1, fan_in=3) == theory.log_gain_std(10, 0.1)


@pytest.mark.parametrize("seed", range(3))
def test_no_nan_or_inf_over_the_valid_range(seed):
    rng = np.random.default_rng(seed)
    slopes = np.sign(rng.uniform(-1, 1, 40)) * 10 ** rng.uniform(-150, 150, 40)
    widths = np.unique(np.concatenate([[1, 2, 10**7, 10**12],
                                       10 ** rng.uniform(0, 7, 6)]).astype(np.int64))
    for slope in list(slopes) + [1e-150, -1e150, 1.0, 0.9999999]:
        for distribution in theory.DISTRIBUTIONS:
            scale = theory.critical_scale(widths, slope, distribution=distribution,
                                          fan_in=widths[::-1])
            std = theory.log_gain_std(widths, slope, distribution=distribution)
            assert np.all(np.isfinite(scale)) and np.all(scale > 0), slope
            assert np.all(np.isfinite(std)) and np.all(std >= 0), slope


@pytest.mark.parametrize(
    "slope", [0, 0.0, -0.0, float("nan"), float("inf"), -float("inf"), True, False,
              "0.1", None, 1j, [0.1], 1e-200, 1e200])
def test_bad_slope_raises_value_error_naming_argument(slope):
    for fn in (theory.critical_scale, theory.log_gain_std):
        with pytest.raises(ValueError, match="slope"):
            fn(10, slope)


def test_slope_zero_error_explains_relu():
    with pytest.raises(ValueError, match="minus infinity"):
        theory.critical_scale(10, 0.0)


@pytest.mark.parametrize("width", [0, -3, 2.5, float("nan"), True, "10", None,
                                   [1, 0], np.array([]), 10**13])
def test_bad_width_raises(width):
    with pytest.raises(ValueError, match="width"):
        theory.critical_scale(width, 0.1)
    if width is not None:  # fan_in=None means a square kernel
        with pytest.raises(ValueError, match="fan_in"):
            theory.critical_scale(10, 0.1, fan_in=width)


def test_bad_distribution_and_scale_raise():
    with pytest.raises(ValueError, match="distribution"):
        theory.critical_scale(10, 0.1, distribution="uniform")
    for scale in (0.0, -1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="scale"):
            theory.lyapunov_exponent(10, 0.1, scale=scale)


def test_cached_values_do_not_leak_to_bool_arguments():
    theory.critical_scale(1, 0.1)  # caches width=1
    with pytest.raises(ValueError, match="width"):
        theory.critical_scale(True, 0.1)


def test_integral_widths_given_as_floats_are_accepted():
    assert theory.critical_scale(10.0, 0.1) == theory.critical_scale(10, 0.1)
    assert theory.critical_scale(np.int32(10), 0.1) == theory.critical_scale(10, 0.1)


def test_docstring_examples_hold():
    import doctest

    failures, tried = doctest.testmod(theory, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0


# --------------------------------------------------------------------------
# recommended_k (docs/theory.md section 4)
# --------------------------------------------------------------------------


def _best_of_k_log_gains(trials, k, depth, width, slope, distribution, rng):
    """|log gain| of the best of k simulated networks with real kernel matrices."""
    scale = theory.critical_scale(width, slope, distribution=distribution)
    h = rng.standard_normal((trials * k, width))
    log_gain = np.zeros(trials * k)
    for _ in range(depth):
        a = rng.standard_normal((trials * k, width, width))
        if distribution == "orthogonal":
            q, r = np.linalg.qr(a)
            a = q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
        pre = np.einsum("bi,bij->bj", h, scale * a)
        post = np.where(pre > 0, pre, slope * pre)
        norms = np.linalg.norm(post, axis=1)
        log_gain += np.log(norms) - np.log(np.linalg.norm(h, axis=1))
        h = post / norms[:, None]
    return np.min(np.abs(log_gain.reshape(trials, k)), axis=1)


@pytest.mark.parametrize("distribution, depth", [("normal", 100), ("orthogonal", 50)])
def test_recommended_k_against_simulation(distribution, depth):
    width, slope, tolerance, probability = 10, 0.01, math.log(2.0), 0.9
    k = theory.recommended_k(depth, width, slope, distribution=distribution,
                             tolerance=tolerance, probability=probability)
    spread = math.sqrt(depth) * theory.log_gain_std(width, slope, distribution=distribution)
    hit = math.erf(tolerance / (math.sqrt(2) * spread))
    assert 1 - (1 - hit) ** k >= probability > 1 - (1 - hit) ** (k - 1)  # smallest such k
    trials = 2000
    best = _best_of_k_log_gains(trials, k, depth, width, slope, distribution,
                                np.random.default_rng(11))
    achieved = np.mean(best <= tolerance)
    predicted = 1 - (1 - hit) ** k
    error = math.sqrt(predicted * (1 - predicted) / trials)
    assert abs(achieved - predicted) <= 3 * error
    assert achieved >= probability - 3 * error


def test_recommended_k_grows_like_sqrt_depth():
    ks = [theory.recommended_k(d, 10, 0.01) for d in (100, 400, 1600)]
    assert ks == sorted(ks)
    assert ks[2] / ks[0] == pytest.approx(4.0, rel=0.1)  # sqrt(16)
    assert theory.recommended_k(100, 10, 0.01, tolerance=100.0) == 1


@pytest.mark.parametrize("kwargs, name", [
    ({"depth": 0}, "depth"), ({"depth": 2.5}, "depth"), ({"width": 0}, "width"),
    ({"slope": 0.0}, "slope"), ({"tolerance": 0.0}, "tolerance"),
    ({"tolerance": math.inf}, "tolerance"), ({"probability": 1.0}, "probability"),
    ({"probability": 0.0}, "probability"), ({"distribution": "uniform"}, "distribution"),
])
def test_recommended_k_rejects_bad_arguments(kwargs, name):
    arguments = dict(depth=10, width=10, slope=0.01)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=name):
        theory.recommended_k(arguments.pop("depth"), arguments.pop("width"),
                             arguments.pop("slope"), **arguments)


@pytest.mark.parametrize("tolerance", [1e-30, 1e-320, 5e-324])
def test_recommended_k_tiny_tolerance_is_a_prompt_clear_error(tolerance):
    # Issue "Reliability" 3: this used to loop about 1e23 times, or overflow.
    with pytest.raises(ValueError, match="`tolerance` is too small"):
        theory.recommended_k(100, 10, 0.01, tolerance=tolerance)


def test_recommended_k_large_answers_are_exact_and_prompt():
    # Far below the default tolerance the answer is still the smallest sufficient k.
    k = theory.recommended_k(100, 10, 0.01, tolerance=1e-5)
    spread = math.sqrt(100) * theory.log_gain_std(10, 0.01)
    hit = special.erf(1e-5 / (math.sqrt(2) * spread))
    assert 1 - (1 - hit) ** k >= 0.9 > 1 - (1 - hit) ** (k - 1)
    assert k > 10**6


def test_recommended_k_takes_integral_floats_like_every_width():
    assert theory.recommended_k(100.0, 10.0, 0.01) == theory.recommended_k(100, 10, 0.01)
    assert theory.critical_scale(10.0, 0.01) == theory.critical_scale(10, 0.01)
    for bad in (True, 10.5, float("nan")):
        with pytest.raises(ValueError, match="`width`"):
            theory.recommended_k(100, bad, 0.01)
