"""keras_lyapunov.networks: the one MLP builder."""

import keras
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal
from keras_lyapunov.networks import leaky_relu_mlp, standard_mlp


def test_leaky_relu_mlp_structure_and_initializer_calls():
    calls = []

    def make(index, slope_after):
        calls.append((index, slope_after))
        return LyapunovOrthogonal(slope=slope_after, seed=index)

    model = leaky_relu_mlp(5, [4, 4, 3], 0.1, make, use_bias=True, output_activation="linear",
                           names=["a", "b", "out"])
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    leaky = [layer for layer in model.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert [layer.name for layer in dense] == ["a", "b", "out"]
    assert [tuple(layer.kernel.shape) for layer in dense] == [(5, 4), (4, 4), (4, 3)]
    assert len(leaky) == 2 and all(layer.negative_slope == 0.1 for layer in leaky)
    assert calls == [(0, 0.1), (1, 0.1), (2, 1.0)]  # the linear output layer gets slope 1
    assert all(layer.bias is not None for layer in dense)
    assert dense[-1].activation is keras.activations.linear


def test_standard_mlp_is_a_bias_free_square_chain():
    model = standard_mlp(6, 3, 0.01)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == 3 and all(layer.bias is None for layer in dense)
    assert all(isinstance(layer.kernel_initializer, LyapunovNormal) for layer in dense)
    assert isinstance(model.layers[-1], keras.layers.LeakyReLU)


@pytest.mark.parametrize("kwargs,name", [
    (dict(input_dim=0), "input_dim"), (dict(units=[4, 0]), "units"), (dict(units=[]), "units"),
    (dict(slope=0.0), "slope"), (dict(names=["only-one"]), "names"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    arguments = dict(input_dim=3, units=[4, 4], slope=0.01,
                     kernel_initializer=lambda i, s: LyapunovNormal(slope=s), **{})
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"`{name}`"):
        leaky_relu_mlp(**arguments)
