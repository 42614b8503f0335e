"""Convolutional networks: delta-orthogonal Lyapunov kernels, per-position signal, selection."""

import os
import warnings

import keras
import numpy as np
import pytest

from keras_lyapunov import (LyapunovDeltaOrthogonal, LyapunovOrthogonal, check_slopes,
                            leaky_relu_cnn, sample_initialization, signal_report, theory)
from keras_lyapunov.structure import position_track
from tests.test_diagnostics import assert_matches_ensemble

SLOPE = 0.01


def numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value), dtype="float64")


@pytest.mark.parametrize("shape", [(3, 8, 8), (3, 3, 8, 16), (5, 3, 16, 8), (3, 3, 3, 4, 4),
                                   (1, 1, 6, 6)])
def test_delta_orthogonal_kernel_is_the_exact_gain_times_haar_at_the_centre(shape):
    kernel = numpy(LyapunovDeltaOrthogonal(slope=SLOPE, seed=1)(shape))
    assert kernel.shape == shape
    centre = tuple((d - 1) // 2 for d in shape[:-2])
    middle = kernel[centre]
    rest = kernel.copy()
    rest[centre] = 0
    assert np.all(rest == 0)
    in_channels, out_channels = shape[-2:]
    gain = theory.critical_scale(out_channels, SLOPE, distribution="orthogonal",
                                 fan_in=in_channels)
    q = middle / gain
    gram = q.T @ q if in_channels >= out_channels else q @ q.T
    np.testing.assert_allclose(gram, np.eye(min(in_channels, out_channels)), atol=1e-5)


def test_a_dense_kernel_gets_what_lyapunov_orthogonal_draws():
    np.testing.assert_allclose(numpy(LyapunovDeltaOrthogonal(SLOPE, seed=4)((10, 6))),
                               numpy(LyapunovOrthogonal(SLOPE, seed=4)((10, 6))), rtol=1e-6)


@pytest.mark.parametrize("shape, match", [((2, 3, 8, 8), "odd size"), ((4, 8, 8), "even sizes"),
                                          ((8,), "rank >= 2"), ((3, 0, 8), "integer >= 1")])
def test_kernels_the_theory_does_not_cover_are_refused(shape, match):
    with pytest.raises(ValueError, match=match):
        LyapunovDeltaOrthogonal(SLOPE)(shape)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_dtypes(dtype):
    kernel = LyapunovDeltaOrthogonal(SLOPE, seed=0)((3, 3, 4, 4), dtype=dtype)
    assert keras.backend.standardize_dtype(kernel.dtype) == dtype


def test_seed_semantics_and_config_round_trip(tmp_path):
    fixed = LyapunovDeltaOrthogonal(SLOPE, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the second call warns: same values
        np.testing.assert_array_equal(numpy(fixed((3, 3, 4, 4))), numpy(fixed((3, 3, 4, 4))))
    fresh = LyapunovDeltaOrthogonal(SLOPE, seed=keras.random.SeedGenerator(3))
    assert not np.array_equal(numpy(fresh((3, 3, 4, 4))), numpy(fresh((3, 3, 4, 4))))
    assert LyapunovDeltaOrthogonal.from_config(fixed.get_config()).get_config() == (
        fixed.get_config())
    model = leaky_relu_cnn((8, 8, 3), 4, 2, SLOPE, classes=2)
    path = os.path.join(tmp_path, "cnn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    initializer = loaded.layers[0].kernel_initializer
    assert isinstance(initializer, LyapunovDeltaOrthogonal) and initializer.slope == SLOPE
    np.testing.assert_array_equal(numpy(loaded.layers[0].kernel), numpy(model.layers[0].kernel))


@pytest.mark.parametrize("rank, size, strides, padding", [
    (2, 9, 1, "same"), (2, 9, 2, "same"), (2, 8, 2, "same"), (2, 9, 2, "valid"),
    (1, 10, 3, "same"), (1, 7, 1, "causal"), (3, 5, 2, "same"),
])
def test_a_delta_convolution_applies_its_centre_matrix_at_the_tracked_positions(
        rank, size, strides, padding):
    convolution = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}[rank]
    model = keras.Sequential([keras.Input((size,) * rank + (4,)), convolution(
        6, 3, strides=strides, padding=padding, use_bias=False,
        kernel_initializer=LyapunovDeltaOrthogonal(SLOPE, seed=2))])
    x = np.random.default_rng(0).standard_normal((2,) + (size,) * rank + (4,)).astype("float32")
    y = numpy(model(x))
    centre = numpy(model.layers[0].kernel)[(1,) * rank]
    track = position_track(model)
    assert track.stop is None and track.grids[0] == y.shape[1:-1]
    for position in np.ndindex(*y.shape[1:-1]):
        source = track.back(position, 0)
        if all(0 <= q < size for q in source):
            expected = x[(slice(None), *source)] @ centre
        else:  # the centre tap is in the padding
            expected = np.zeros((2, 6))
        np.testing.assert_allclose(y[(slice(None), *position)], expected, atol=1e-5)


def test_delta_orthogonal_cnn_profile_matches_the_prediction_over_300_networks():
    model = leaky_relu_cnn((10, 10, 8), 8, 30, SLOPE)
    report = signal_report(model, samples=300, num_probes=1, seed=11)
    assert all(row.prediction == "exact" for row in report.rows)
    assert all(row.predicted_mean == 0.0 for row in report.rows)
    assert report.rows[-1].predicted_std == pytest.approx(
        theory.log_gain_std(8, SLOPE, distribution="orthogonal") * 30**0.5)
    assert "per position" in report.rows[0].note
    assert_matches_ensemble(report, rows=[0, 9, 29])


def test_the_prediction_stops_where_positions_mix_and_for_other_kernels():
    model = leaky_relu_cnn((8, 8, 4), 4, 3, SLOPE, classes=3)
    report = signal_report(model, samples=20, seed=0)
    kinds = [row.prediction for row in report.rows]
    assert kinds == ["exact"] * 3 + ["none", "none"]
    assert "GlobalAveragePooling2D" in report.rows[3].note
    he = leaky_relu_cnn((8, 8, 4), 4, 2, SLOPE,
                        lambda index, slope: keras.initializers.HeNormal(seed=index))
    rows = signal_report(he, samples=20, seed=0).rows
    assert {row.prediction for row in rows} == {"none"}
    assert "measure_exponent" in rows[0].note


def test_images_with_black_pixels_are_read_where_the_input_is_not_zero():
    model = leaky_relu_cnn((9, 9, 1), 4, 3, SLOPE)
    images = np.zeros((3, 9, 9, 1), dtype="float32")
    images[:, 0, 0, 0] = 1.0  # only a corner is lit
    report = signal_report(model, images, samples=10, num_probes=3, seed=0)
    assert np.all(np.isfinite(report.log_norms))


def test_check_slopes_flags_convolutions_the_theory_does_not_cover():
    inputs = keras.Input((8, 8, 4))
    hidden = keras.layers.Conv2DTranspose(
        4, 3, padding="same", use_bias=False, activation=keras.layers.LeakyReLU(SLOPE),
        kernel_initializer=LyapunovDeltaOrthogonal(SLOPE))(inputs)
    hidden = keras.layers.Conv2D(4, 3, padding="same", groups=2, use_bias=False,
                                 kernel_initializer=LyapunovDeltaOrthogonal(SLOPE))(hidden)
    hidden = keras.layers.LeakyReLU(SLOPE)(hidden)
    outputs = keras.layers.Conv2D(4, 3, padding="same", use_bias=False,
                                  kernel_initializer=LyapunovDeltaOrthogonal(SLOPE))(hidden)
    outputs = keras.layers.LeakyReLU()(outputs)  # 0.3
    messages = check_slopes(keras.Model(inputs, outputs), warn=False)
    assert len(messages) == 3
    assert "Conv2DTranspose" in messages[0] and "groups=2" in messages[1]
    assert "slope 0.3" in messages[2]
    # The signal report gives a grouped layer no prediction, for the same reason.
    grouped_only = keras.Sequential([
        keras.Input((8, 8, 4)),
        keras.layers.Conv2D(4, 3, padding="same", groups=2, use_bias=False,
                            kernel_initializer=LyapunovDeltaOrthogonal(SLOPE)),
        keras.layers.LeakyReLU(SLOPE)])
    report = signal_report(grouped_only, np.ones((2, 8, 8, 4), "float32"), samples=2,
                           num_probes=2, seed=0)
    grouped = [row for row in report.rows if "groups=2" in row.note]
    assert len(grouped) == 1 and grouped[0].prediction == "none"
    assert "block-diagonal" in grouped[0].note and "block-diagonal" in messages[1]


def test_sampled_selection_redraws_delta_orthogonal_and_gaussian_convolution_kernels():
    inputs = keras.Input((6, 6, 4))
    hidden = inputs
    for _ in range(3):
        hidden = keras.layers.Conv2D(4, 3, padding="same", use_bias=False,
                                     kernel_initializer=LyapunovDeltaOrthogonal(SLOPE))(hidden)
        hidden = keras.layers.LeakyReLU(SLOPE)(hidden)
    gaussian = keras.layers.Conv2D(4, 3, padding="same", use_bias=False,
                                   kernel_initializer=keras.initializers.RandomNormal(
                                       stddev=0.2, seed=5))
    outputs = keras.layers.LeakyReLU(SLOPE)(gaussian(hidden))
    model = keras.Model(inputs, outputs)
    before = [numpy(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")]
    result = sample_initialization(model, k=4, seed=0, layers="all", score="target-norm")
    after = [numpy(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")]
    assert result.selected
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))
    gain = theory.critical_scale(4, SLOPE, distribution="orthogonal")
    for kernel in after[:3]:
        rest = kernel.copy()
        rest[1, 1] = 0
        assert np.all(rest == 0)
        np.testing.assert_allclose(kernel[1, 1].T @ kernel[1, 1] / gain**2, np.eye(4), atol=1e-5)
    assert np.all(after[3] != 0)  # a fresh Gaussian draw, not a delta kernel


@pytest.mark.parametrize("kwargs, name", [({"gain": 0.0}, "gain"), ({"gain": True}, "gain"),
                                          ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed")])
def test_delta_orthogonal_rejects_bad_gain_and_seed(kwargs, name):
    from keras_lyapunov import DeltaOrthogonal

    with pytest.raises(ValueError, match=name):
        DeltaOrthogonal(**kwargs)
