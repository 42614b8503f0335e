"""experiments.methods: the methods, the paper's MLPs, LSUV, the selection callback."""

import math

import keras
import numpy as np
import pytest

from experiments.methods import METHODS, build_mlp, lsuv, prepare
from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, SampledLyapunov


@pytest.mark.parametrize("method", list(METHODS))
def test_build_mlp_layers_and_initializers(method):
    slope = 0.01
    model = build_mlp(3, 4, 5, 2, method=method, slope=slope, seed=0)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    leaky = [layer for layer in model.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert len(dense) == 7 and len(leaky) == 6
    assert all(layer.negative_slope == slope for layer in leaky)
    assert dense[0].kernel.shape == (3, 4) and dense[-1].kernel.shape == (4, 2)
    hidden, first, last = (dense[3].kernel_initializer, dense[0].kernel_initializer,
                           dense[-1].kernel_initializer)
    if "lyapunov-normal" in method:
        assert isinstance(hidden, LyapunovNormal) and hidden.slope == slope
        assert first.get_config()["distribution"] == "untruncated_normal"
        assert first.scale == pytest.approx(2 / (1 + slope**2))
        assert last.scale == pytest.approx(1.0)  # He at slope 1 for the linear output
    if "lyapunov-orthogonal" in method:
        assert isinstance(hidden, LyapunovOrthogonal)
        assert first.gain == pytest.approx(math.sqrt(2 / (1 + slope**2)))
        assert last.gain == pytest.approx(1.0)
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in dense[1:-1]]
    assert not any(np.array_equal(kernels[0], k) for k in kernels[1:])  # distinct seeds
    again = build_mlp(3, 4, 5, 2, method=method, slope=slope, seed=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.layers[2].kernel),
                                  keras.ops.convert_to_numpy(model.layers[2].kernel))


def test_lsuv_gives_unit_output_variance():
    model = build_mlp(20, 8, 6, 3, method="lsuv", seed=1)
    x = np.random.default_rng(0).uniform(size=(256, 20)).astype("float32")
    variances = lsuv(model, x)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(variances) == len(dense)
    probe = keras.Model(model.inputs[0], [layer.output for layer in dense])
    measured = [float(np.var(keras.ops.convert_to_numpy(y))) for y in probe(x)]
    assert all(abs(v - 1.0) < 0.1 for v in measured)


def test_prepare_returns_the_selection_callback_for_sampled_methods():
    model = build_mlp(4, 4, 3, 1, method="sampled-lyapunov-orthogonal", seed=0)
    x = np.ones((8, 4), "float32")
    y = np.zeros((8, 1), "float32")
    callbacks = prepare(model, "sampled-lyapunov-orthogonal", x, y, k=3, seed=0)
    assert len(callbacks) == 1 and isinstance(callbacks[0], SampledLyapunov)
    # the design card's call: no probes, the callback trains on fit's own first batch
    assert callbacks[0].k == 3 and callbacks[0].score == "auto"
    assert callbacks[0].x is None and callbacks[0].y is None
    paper = prepare(model, "paper-sampled-lyapunov-orthogonal", x, y, k=3, seed=0,
                    target_norm=2.0)
    assert paper[0].score == "target-norm" and paper[0].target_norm == 2.0
    assert prepare(build_mlp(4, 4, 3, 1, method="he"), "he", x, y, k=3, seed=0) == []
