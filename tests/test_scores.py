"""The candidate statistics of keras_lyapunov._scores: the trial loss and the norm head."""

import keras
import numpy as np
import pytest

from keras_lyapunov._forward import variable_values
from keras_lyapunov._scores import mean_loss, trial_loss, trial_losses


def classifier(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dropout(0.5), keras.layers.Dense(3)])


def data(n=32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype("float32"), (np.arange(n) % 3).astype("int32")


def values(model):
    return [keras.ops.convert_to_numpy(v) for v in model.variables]


@pytest.mark.parametrize("steps", [0, 1, 3])
def test_trial_loss_is_the_loss_after_keras_adamw_steps(steps):
    # An independent reference: Keras's own AdamW, full-batch steps through fit.
    # Dropout is inactive in the trial (inference forward), so it is disabled here too.
    model, (x, y) = classifier(), data()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    before = values(model)
    trial = trial_loss(model, loss, steps, 1e-2, 0.004)
    value = float(keras.ops.convert_to_numpy(trial(*variable_values(model), x, y)))
    for a, b in zip(before, values(model)):
        np.testing.assert_array_equal(a, b)  # the trial works on copies
    model.layers[1].rate = 0.0
    model.compile(optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.004), loss=loss)
    if steps:
        model.fit(x, y, batch_size=len(x), epochs=steps, shuffle=False, verbose=0)
    reference = float(model.evaluate(x, y, batch_size=len(x), verbose=0))
    np.testing.assert_allclose(value, reference, rtol=2e-6)


def test_trial_losses_are_the_trial_loss_after_every_step_on_both_batches():
    # Entry s of the trajectory is the loss after s steps taken on the probes: on
    # the probes, what trial_loss(s) returns; on the other batch, the loss there of
    # the weights that s full-batch steps of Keras's AdamW on the probes reach.
    model, (x, y) = classifier(), data()
    x_other, y_other = data(12)
    x_other = x_other[::-1] * 0.5
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    probe_losses, other_losses = trial_losses(model, loss, 3, 1e-2, 0.004)(
        *variable_values(model), x, y, x_other, y_other)
    probe_losses = keras.ops.convert_to_numpy(probe_losses)
    other_losses = keras.ops.convert_to_numpy(other_losses)
    assert probe_losses.shape == other_losses.shape == (4,)
    expected = [float(keras.ops.convert_to_numpy(trial_loss(model, loss, steps, 1e-2, 0.004)(
        *variable_values(model), x, y))) for steps in range(4)]
    np.testing.assert_allclose(probe_losses, expected, rtol=2e-6)
    model.layers[1].rate = 0.0
    model.compile(optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.004), loss=loss)
    for steps in range(4):  # Keras's own AdamW, evaluated on the other batch after each step
        np.testing.assert_allclose(other_losses[steps], float(model.evaluate(
            x_other, y_other, batch_size=len(x_other), verbose=0)), rtol=2e-6)
        model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)


def test_trial_loss_does_not_touch_a_built_optimizer():
    model, (x, y) = classifier(), data()
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    for variable in optimizer.variables:
        variable.assign(np.full(variable.shape, 0.5, variable.dtype))
    before = values(model) + [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
    trial = trial_loss(model, "sparse_categorical_crossentropy", 4, 1e-2, 0.0)
    trial(*variable_values(model), x, y)
    after = values(model) + [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_mean_loss_accepts_names_functions_and_losses():
    y_true = np.array([0, 1], "int32")
    y_pred = np.array([[2.0, 0.0], [0.0, 3.0]], "float32")
    expected = float(np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-3.0))]))
    for loss in (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                 lambda t, p: keras.losses.sparse_categorical_crossentropy(
                     t, p, from_logits=True)):
        np.testing.assert_allclose(
            float(keras.ops.convert_to_numpy(mean_loss(loss)(y_true, y_pred))), expected,
            rtol=1e-6)
    softmax = keras.ops.softmax(y_pred)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(
        mean_loss("sparse_categorical_crossentropy")(y_true, softmax))), expected, rtol=1e-5)
