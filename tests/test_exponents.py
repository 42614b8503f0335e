"""measure_exponent and calibrate_scale: the Monte Carlo exponent against the exact theory."""

import math

import keras
import numpy as np
import pytest

from keras_lyapunov import calibrate_scale, measure_exponent, theory
from keras_lyapunov import exponents

SLOPE = 0.01


def within_error_of_zero(calibration):
    """The exponent at the calibrated factor, measured anew, is 0 within 3 standard errors:
    its own and that of the factor (the factor came from another estimate)."""
    error = math.hypot(calibration.before.standard_error, calibration.after.standard_error)
    return abs(calibration.after.exponent) <= 3 * error


def dense_block(width, initializer, fan_in=None, **kwargs):
    return keras.Sequential([
        keras.Input((fan_in or width,)),
        keras.layers.Dense(width, use_bias=False, kernel_initializer=initializer, **kwargs),
        keras.layers.LeakyReLU(negative_slope=SLOPE)])


@pytest.mark.parametrize("distribution, initializer", [
    ("normal", lambda: keras.initializers.RandomNormal(stddev=1.0)),
    ("orthogonal", lambda: keras.initializers.Orthogonal(gain=1.0)),
])
def test_calibration_reproduces_the_critical_scale_of_dense_layers(distribution, initializer):
    calibration = calibrate_scale(dense_block(10, initializer()), steps=2048, seed=1)
    assert calibration.method == "exact" and calibration.before.homogeneous
    expected = theory.critical_scale(10, SLOPE, distribution=distribution)
    # The error of log(factor) is the exponent's error (the factor is exp(-lambda)).
    assert abs(math.log(calibration.factor) - math.log(expected)) <= (
        3 * calibration.standard_error)
    assert calibration.before.stationary
    # At the calibrated factor, independent draws measure an exponent of zero.
    assert within_error_of_zero(calibration)


def test_measured_exponent_of_a_rectangular_gaussian_layer_matches_the_theory():
    # 16 -> 8 cannot be chained: each draw is applied to the Gaussian inputs; a
    # Gaussian kernel's gain law does not depend on the input, so this is the exponent.
    block = dense_block(8, keras.initializers.RandomNormal(stddev=0.3), fan_in=16)
    estimate = measure_exponent(block, steps=2048, seed=2)
    assert not estimate.chained and estimate.stationary
    expected = theory.lyapunov_exponent(8, SLOPE, scale=0.3, fan_in=16)
    assert abs(estimate.exponent - expected) <= 3 * estimate.standard_error
    assert "not chained" in estimate.note


def test_standard_error_is_the_spread_of_independent_estimates():
    block = dense_block(10, keras.initializers.RandomNormal(stddev=0.5))
    estimates = [measure_exponent(block, steps=256, burn_in=8, seed=s) for s in range(12)]
    spread = np.std([e.exponent for e in estimates], ddof=1)
    typical = np.median([e.standard_error for e in estimates])
    # 12 estimates: the sample std is within a factor 2 of the truth with high probability.
    assert typical / 2 <= spread <= 2 * typical


def test_gaussian_convolution_on_28x28_is_measured_and_its_calibration_is_exact():
    conv = keras.layers.Conv2D(4, 3, padding="same", use_bias=False,
                               activation=keras.layers.LeakyReLU(negative_slope=SLOPE),
                               kernel_initializer=keras.initializers.HeNormal())
    calibration = calibrate_scale(conv, (28, 28, 4), steps=64, burn_in=8, seed=3)
    assert calibration.method == "exact" and calibration.before.chained
    assert calibration.factor == pytest.approx(math.exp(-calibration.before.exponent))
    assert within_error_of_zero(calibration)


def test_residual_block_is_measured_and_is_not_homogeneous_in_its_kernels():
    inputs = keras.Input((8,))
    branch = keras.layers.Dense(8, use_bias=False, activation=keras.layers.LeakyReLU(SLOPE),
                                kernel_initializer=keras.initializers.RandomNormal(stddev=0.3))
    block = keras.Model(inputs, keras.layers.Add()([inputs, branch(inputs)]))
    estimate = measure_exponent(block, steps=64, burn_in=8, seed=4)
    assert estimate.chained and not estimate.homogeneous and math.isfinite(estimate.exponent)
    assert "not positively homogeneous" in estimate.note


def test_a_layer_with_a_bias_is_calibrated_by_a_root_solve():
    # The bias (0.1, not re-drawn) keeps the layer from being homogeneous: a small
    # kernel leaves the bias alone (log-gain about log(0.1)), a large one grows.
    block = keras.Sequential([keras.Input((8,)), keras.layers.Dense(
        8, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0),
        bias_initializer=keras.initializers.Constant(0.1)),
        keras.layers.LeakyReLU(negative_slope=SLOPE)])
    calibration = calibrate_scale(block, steps=256, burn_in=16, seed=5, bracket=(1e-2, 1e2))
    assert calibration.method == "root" and not calibration.before.homogeneous
    assert within_error_of_zero(calibration)
    assert "not positively homogeneous" in calibration.before.note
    assert calibration.standard_error > 0


def test_the_layer_is_never_written():
    block = dense_block(10, keras.initializers.RandomNormal(stddev=1.0))
    before = keras.ops.convert_to_numpy(block.layers[0].kernel)
    calibrate_scale(block, steps=16, burn_in=0, seed=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(block.layers[0].kernel), before)


class _Stub:
    chained = True


def test_a_drifting_chain_is_reported_not_stationary():
    rng = np.random.default_rng(0)
    steady = rng.standard_normal((512, 4)) * 0.3
    drifting = steady + np.linspace(0.0, 1.0, 512)[:, None]
    assert exponents._estimate(_Stub(), steady, 0, 1.0, True).stationary
    estimate = exponents._estimate(_Stub(), drifting, 0, 1.0, True)
    assert not estimate.stationary and "NOT stationary" in estimate.note


@pytest.mark.parametrize("kwargs, name", [
    ({"steps": 4}, "steps"), ({"chains": 0}, "chains"), ({"scale": -1.0}, "scale"),
    ({"burn_in": -1}, "burn_in"), ({"seed": -3}, "seed"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        measure_exponent(dense_block(4, "he_normal"), **kwargs)


def test_missing_input_shape_and_a_layer_without_kernels():
    with pytest.raises(ValueError, match="input_shape"):
        measure_exponent(keras.layers.Dense(4))
    with pytest.raises(ValueError, match="no trainable kernel"):
        measure_exponent(keras.layers.ReLU(), (4,))
