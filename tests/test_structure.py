"""Reading activations and chains off Keras models; the slope check."""

import functools
import warnings

import keras
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, structure
from keras_lyapunov.sampling import sample_initialization
from keras_lyapunov.structure import activation_slope, check_slopes, layer_chain


@pytest.mark.parametrize("activation, slope", [
    (keras.layers.LeakyReLU(), 0.3),
    (keras.layers.LeakyReLU(negative_slope=0.01), 0.01),
    (keras.activations.leaky_relu, 0.2),
    (functools.partial(keras.activations.leaky_relu, negative_slope=0.05), 0.05),
    ("leaky_relu", 0.2),
    ("relu", 0.0),
    (keras.layers.ReLU(), 0.0),
    (keras.layers.ReLU(negative_slope=0.1), 0.1),
    ("linear", 1.0),
    (None, 1.0),
    (keras.layers.Activation("leaky_relu"), 0.2),
    (keras.layers.PReLU(), 0.0),
    (keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25)), 0.25),
    (keras.layers.ReLU(max_value=6.0), None),
    ("elu", None),
    ("softmax", None),
    (lambda x: x, None),
])
def test_activation_slope(activation, slope):
    assert activation_slope(activation).slope == slope


def dense_stack(activation_layers, init_slope=0.01):
    layers = [keras.Input((6,))]
    for activation in activation_layers:
        layers.append(keras.layers.Dense(6, kernel_initializer=LyapunovNormal(slope=init_slope)))
        if activation is not None:
            layers.append(activation)
    return keras.Sequential(layers)


def test_check_slopes_warns_on_keras_default_slopes():
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(6, kernel_initializer=LyapunovNormal(slope=0.01), name="a"),
        keras.layers.LeakyReLU(),  # 0.3
        keras.layers.Dense(6, activation="leaky_relu", name="b",  # 0.2
                           kernel_initializer=LyapunovOrthogonal(slope=0.01)),
        keras.layers.Dense(6, activation="relu", name="c",
                           kernel_initializer=LyapunovNormal(slope=0.01)),
        keras.layers.Dense(6, activation="tanh", name="d",
                           kernel_initializer=LyapunovNormal(slope=0.01)),
        keras.layers.Dense(6, name="e", kernel_initializer=LyapunovNormal(slope=1.0)),
        keras.layers.Dense(6, name="f", kernel_initializer="glorot_uniform"),
        keras.layers.LeakyReLU(),
    ])
    with pytest.warns(UserWarning) as caught:
        messages = check_slopes(model)
    assert len(messages) == 4 and len(caught) == 4
    assert "'a'" in messages[0] and "LeakyReLU(0.3)" in messages[0]
    assert "LyapunovNormal(slope=0.3)" in messages[0]
    assert "'b'" in messages[1] and "leaky_relu(0.2)" in messages[1]
    assert "'c'" in messages[2] and "collapse" in messages[2]
    assert "'d'" in messages[3] and "not a leaky ReLU" in messages[3]


def test_check_slopes_silent_when_slopes_agree():
    model = dense_stack([keras.layers.LeakyReLU(negative_slope=0.01) for _ in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert check_slopes(model) == []
    assert check_slopes(model, warn=False) == []


def test_check_slopes_follows_a_branching_functional_model():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(6, kernel_initializer=LyapunovNormal(slope=0.01), name="x")(inputs)
    hidden = keras.layers.LeakyReLU(negative_slope=0.2)(hidden)
    left = keras.layers.Dense(6, kernel_initializer=LyapunovNormal(slope=0.2))(hidden)
    right = keras.layers.Dense(6, kernel_initializer=LyapunovNormal(slope=0.2))(hidden)
    model = keras.Model(inputs, keras.layers.Add()([left, right]))
    messages = check_slopes(model, warn=False)
    # x is followed by LeakyReLU(0.2); left and right by nothing (linear, slope 1).
    assert len(messages) == 3 and "'x'" in messages[0] and "slope 0.2" in messages[0]
    with pytest.raises(ValueError, match="chain"):
        layer_chain(model)


def test_layer_chain_skips_norm_preserving_layers_and_folds_activations():
    model = keras.Sequential([
        keras.Input((4, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(5),
        keras.layers.Dropout(0.5),
        keras.layers.LeakyReLU(negative_slope=0.1),
        keras.layers.Dense(5, activation="relu"),
        keras.layers.Activation("linear"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(2),
    ])
    steps = layer_chain(model).steps
    assert [type(s.layer).__name__ for s in steps] == [
        "Dense", "Dense", "BatchNormalization", "Dense"]
    assert [s.activation.slope for s in steps] == [0.1, 0.0, 1.0, 1.0]


def test_layer_chain_rejects_subclassed_models():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(keras.ops.ones((1, 3)))
    with pytest.raises(ValueError, match="Sequential or Functional"):
        layer_chain(net)


def test_sample_initialization_runs_the_slope_check():
    model = dense_stack([keras.layers.LeakyReLU() for _ in range(2)])
    with pytest.warns(UserWarning, match="LeakyReLU\\(0.3\\)"):
        sample_initialization(model, k=2, seed=0)


def test_docstring_examples_hold():
    import doctest

    failures, tried = doctest.testmod(
        structure, extraglobs={"LyapunovNormal": LyapunovNormal}, optionflags=doctest.ELLIPSIS)
    assert tried >= 2 and failures == 0
