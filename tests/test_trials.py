"""Trials through the model's own train step (keras_lyapunov._trials) and the budget's plan."""

import math

import keras
import numpy as np
import pytest

from keras_lyapunov._trials import halving_plan, plan_cost, state_variables, restoring_trial


def classifier(seed=0, regularizer=None):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(8, activation="relu", kernel_regularizer=regularizer),
        keras.layers.Dense(3, kernel_regularizer=regularizer)])


def data(n=32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 5)).astype("float32"), (np.arange(n) % 3).astype("int32")


def compiled(model, learning_rate=1e-2):
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=20)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.004),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def snapshot(model):
    return [keras.ops.convert_to_numpy(v) for v in state_variables(model)]


def batch_of(x, y):
    return keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)


@pytest.mark.parametrize("regularizer", [None, "l2"])
def test_trial_losses_are_the_losses_of_keras_own_training(regularizer):
    # An independent reference: a second model with the same weights, trained by
    # Keras's train_on_batch, and its loss read by evaluate (regularization included).
    x, y = data()
    model, reference = (compiled(classifier(regularizer=regularizer)) for _ in range(2))
    with restoring_trial(model, batch_of(x, y)) as trial:
        losses = trial.losses(4)
    assert len(losses) == 5
    for steps, value in enumerate(losses):
        expected = reference.evaluate(x, y, batch_size=len(x), verbose=0)[0]
        np.testing.assert_allclose(value, expected, rtol=2e-5)
        reference.train_on_batch(x, y)


def test_every_variable_comes_back_bit_for_bit():
    x, y = data()
    model = compiled(classifier())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # a moved optimizer and metrics
    before = snapshot(model)
    with restoring_trial(model, batch_of(x, y)) as trial:
        trial.losses(3)
        trial.losses(2)
    for a, b in zip(before, snapshot(model)):
        np.testing.assert_array_equal(a, b)


def test_every_variable_comes_back_after_an_exception():
    x, y = data()
    model = compiled(classifier())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    before = snapshot(model)
    with pytest.raises(KeyboardInterrupt), restoring_trial(model, batch_of(x, y)) as trial:
        trial.losses(2)
        raise KeyboardInterrupt
    for a, b in zip(before, snapshot(model)):
        np.testing.assert_array_equal(a, b)


def test_each_trial_starts_from_the_saved_state_but_the_held_variables():
    # Two trials of the same candidate give the same losses: the optimizer, the other
    # weights and the metrics are back at their saved values before each.
    x, y = data()
    model = compiled(classifier())
    kernel = model.layers[0].kernel
    candidate = [keras.ops.convert_to_tensor(
        np.random.default_rng(1).normal(size=kernel.shape).astype("float32"))]
    with restoring_trial(model, batch_of(x, y), held=[kernel]) as trial:
        saved = trial.losses(3)
        first = trial.losses(3, candidate)
        second = trial.losses(3, candidate)
        zeroed = trial.losses(0, [keras.ops.zeros(kernel.shape)])
        again = trial.losses(3)
    assert first == second and saved == again
    assert first[0] != saved[0] and zeroed[0] not in (first[0], saved[0])
    assert trial.steps_taken == 4 * 4 + 1
    # The candidate's values are the trial's start, and the trials did not consume them.
    reference = compiled(classifier())
    reference.layers[0].kernel.assign(keras.ops.convert_to_numpy(candidate[0]))
    np.testing.assert_allclose(first[0], reference.evaluate(x, y, batch_size=len(x),
                                                            verbose=0)[0], rtol=2e-5)


def test_a_diverging_trial_stops_at_the_first_non_finite_loss():
    x, y = data()
    model = compiled(classifier())
    kernel = model.layers[-1].kernel
    with restoring_trial(model, batch_of(x, y), held=[kernel]) as trial:
        losses = trial.losses(5, [keras.ops.convert_to_tensor(
            np.full((8, 3), np.inf, "float32"))])
    assert len(losses) == 1 and not math.isfinite(losses[0])


@pytest.mark.parametrize("k", [1, 2, 3, 10, 17])
@pytest.mark.parametrize("trial_steps", [0, 1, 2, 8, 20])
def test_the_plan_screens_every_candidate_and_stays_within_the_budget(k, trial_steps):
    for budget in range(k, k + 200, 7):
        plan = halving_plan(k, budget, trial_steps)
        assert plan[0] == (k, 0)
        assert plan_cost(plan) <= budget
        for (count, steps), (earlier, _) in zip(plan[1:], plan):
            assert 2 <= count <= math.ceil(earlier / 2)
            assert 2 <= steps <= trial_steps


def test_the_plan_grows_the_survivors_first_then_the_trial():
    assert halving_plan(10, 15, 8) == [(10, 0)]  # no two survivors for 2 steps
    assert halving_plan(10, 17, 8) == [(10, 0), (2, 2)]
    assert halving_plan(10, 18, 8) == [(10, 0), (2, 3)]
    assert halving_plan(10, 24, 8) == [(10, 0), (4, 2)]
    assert halving_plan(10, 40, 8) == [(10, 0), (5, 5)]
    assert halving_plan(10, 10_000, 8) == [(10, 0), (5, 8)]


def test_a_screen_reads_the_loss_of_a_fresh_start_whatever_trial_came_before():
    # A screen (no steps) starts from the optimizer state the trial before it left (JAX: its
    # buffers; elsewhere: not assigned back): Keras's train step logs the loss before the
    # update, which that state does not enter. A trial with steps, and the exit, restore it.
    x, y = data()
    model = compiled(classifier())
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # a moved optimizer and metrics
    before = snapshot(model)
    kernel = model.layers[0].kernel
    rng = np.random.default_rng(2)
    candidates = [keras.ops.convert_to_tensor(rng.normal(size=kernel.shape).astype("float32"))
                  for _ in range(3)]
    fresh = []
    for candidate in candidates:
        with restoring_trial(model, batch_of(x, y), held=[kernel]) as trial:
            fresh.append(trial.losses(0, [candidate]))
    with restoring_trial(model, batch_of(x, y), held=[kernel]) as trial:
        trial.losses(4, [candidates[0]])
        chained = [trial.losses(0, [candidate]) for candidate in candidates]
        longer = trial.losses(2, [candidates[1]])
    for a, b in zip(before, snapshot(model)):
        np.testing.assert_array_equal(a, b)
    with restoring_trial(model, batch_of(x, y), held=[kernel]) as trial:
        assert longer == trial.losses(2, [candidates[1]])
    assert chained == fresh and len({values[0] for values in fresh}) == 3


def test_a_custom_train_step_gets_fresh_optimizer_state_in_every_screen():
    class IterationsAsLoss(keras.Sequential):  # reports its optimizer's state as the loss
        if keras.backend.backend() == "jax":
            def train_step(self, state, data):
                logs, state = super().train_step(state, data)
                return dict(logs, loss=keras.ops.cast(state[2][0], "float32")), state
        else:
            def train_step(self, data):
                logs = super().train_step(data)
                return dict(logs, loss=keras.ops.cast(self.optimizer.iterations, "float32"))

    x, y = data()
    model = IterationsAsLoss([keras.Input((5,)), keras.layers.Dense(3)])
    compiled(model)
    kernel = model.layers[0].kernel
    with restoring_trial(model, batch_of(x, y), held=[kernel]) as trial:
        screens = [trial.losses(0, [keras.ops.zeros(kernel.shape)])[0] for _ in range(3)]
    assert screens == [1.0, 1.0, 1.0]


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's donating train step")
def test_jax_a_host_start_state_survives_the_donating_step():
    # On a CPU device the trial passes its start state as NumPy arrays to fit's train
    # step, which donates its state: each call must move them into buffers of its own.
    import jax

    from keras_lyapunov._trials import _fresh_copies, _host_start

    values = [jax.numpy.full((64, 64), 1.5), jax.numpy.arange(4096.0)]
    start = _host_start(values)
    assert all(isinstance(value, np.ndarray) for value in start)
    expected = [np.array(value) for value in start]
    step = jax.jit(lambda state: [2.0 * value for value in state], donate_argnums=0)
    for _ in range(2):
        out = step(_fresh_copies(start))
        np.testing.assert_array_equal(np.asarray(out[0]), 3.0)
    for value, before in zip(start, expected):
        np.testing.assert_array_equal(value, before)
    device = _fresh_copies(values)  # device arrays are copied, the originals kept
    step(device)
    assert all(d.is_deleted() for d in device) and not any(v.is_deleted() for v in values)
