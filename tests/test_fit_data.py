"""SampledLyapunov as users call it: fit's own data, fit's own train step, fit's plan (issue 19).

The callback lends itself fit's first batch. The reference for "no batch is
consumed, skipped or reordered" is independent of that mechanism: the same
selection made beforehand by ``sample_initialization`` on the same first batch,
then a plain ``fit`` on the same data, must end in the same weights.
"""

import warnings

import keras
import numpy as np
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, SampledLyapunov
from keras_lyapunov import sample_initialization

N, BATCH, FEATURES, CLASSES = 48, 16, 6, 3


def labelled(n=N, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, FEATURES)).astype("float32"), (np.arange(n) % CLASSES)


def network(seed=1, input_name=None, optimizer=None, **compile_options):
    inputs = keras.Input((FEATURES,), name=input_name)
    h = inputs
    for i in range(4):
        h = keras.layers.Dense(8, kernel_initializer=LyapunovOrthogonal(seed=seed + i))(h)
        h = keras.layers.LeakyReLU(0.01)(h)
    outputs = keras.layers.Dense(CLASSES, kernel_initializer=LyapunovOrthogonal(
        1.0, seed=seed + 9))(h)
    model = keras.Model(inputs, outputs)
    compile_options.setdefault("loss", keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-2), **compile_options)
    return model


def values(variables):
    return [keras.ops.convert_to_numpy(v) for v in variables]


def assert_same(a, b):
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x) // BATCH

    def __getitem__(self, index):
        rows = slice(index * BATCH, (index + 1) * BATCH)
        return self.x[rows], self.y[rows]


def generator(x, y):
    for start in range(0, len(x), BATCH):
        yield x[start:start + BATCH], y[start:start + BATCH]


def data_forms():
    """name -> (make: () -> fit's data arguments, the first batch's (x, y), input name)."""
    x, y = labelled()
    first = (x[:BATCH], y[:BATCH])
    forms = {
        "arrays": (lambda: dict(x=x, y=y, batch_size=BATCH), first, None),
        "dict inputs": (lambda: dict(x={"features": x}, y=y, batch_size=BATCH), first,
                        "features"),
        "validation_split": (lambda: dict(x=x, y=y, batch_size=BATCH, validation_split=0.25),
                             first, None),
        "PyDataset": (lambda: dict(x=Batches(x, y)), first, None),
        "generator": (lambda: dict(x=generator(x, y), steps_per_epoch=N // BATCH), first,
                      None),
    }
    try:
        import tensorflow as tf

        forms["tf.data"] = (lambda: dict(x=tf.data.Dataset.from_tensor_slices(
            (x, y)).batch(BATCH)), first, None)
    except ImportError:
        pass
    try:
        import torch

        dataset = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
        forms["torch DataLoader"] = (lambda: dict(x=torch.utils.data.DataLoader(
            dataset, batch_size=BATCH, shuffle=False)), first, None)
    except ImportError:
        pass
    return forms


@pytest.mark.parametrize("form", sorted(data_forms()))
def test_the_callback_trains_on_fit_first_batch_and_loses_no_batch(form):
    make, (x_first, y_first), input_name = data_forms()[form]
    budget = 9
    model = network(input_name=input_name)
    callback = SampledLyapunov(k=3, seed=0, budget=budget, verbose=0)
    model.fit(**make(), epochs=2, shuffle=False, verbose=0, callbacks=[callback])
    result = callback.result
    assert result.selected and result.score == "loss"
    assert "fit's first batch (16 samples)" in result.measured_at
    assert result.budget == budget and result.spent <= budget
    # The reference: the same selection on the same batch first, then the same fit.
    reference = network(input_name=input_name)
    first = {"features": x_first} if input_name else x_first
    chosen = sample_initialization(reference, first, y_first, k=3, seed=0, budget=budget,
                                   verbose=0)
    np.testing.assert_array_equal(chosen.scores, result.scores)
    reference.fit(**make(), epochs=2, shuffle=False, verbose=0)
    for a, b in zip(values(model.weights), values(reference.weights), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert model.train_function is not None and callback._original is None


def test_the_trials_leave_the_optimizer_and_every_other_weight_as_fit_found_them():
    x, y = labelled()
    model = network(optimizer=keras.optimizers.SGD(0.0), metrics=["accuracy"])
    biases = values([v for v in model.weights if "bias" in v.path])
    callback = SampledLyapunov(k=4, seed=0, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[callback])
    assert callback.result.selected and callback.result.spent > 0
    # the trial steps are not counted: only fit's own 2 x 3 steps
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2 * (N // BATCH)
    assert_same(biases, values([v for v in model.weights if "bias" in v.path]))


def test_the_budget_is_a_share_of_fit_plan_unless_given():
    x, y = labelled(480)
    model = network()
    callback = SampledLyapunov(k=4, seed=0, verbose=0, budget_share=0.1)
    model.fit(x, y, batch_size=BATCH, epochs=5, verbose=0, callbacks=[callback])
    assert callback.result.budget == round(0.1 * 5 * 30)
    assert callback.result.spent <= callback.result.budget
    small = SampledLyapunov(k=4, seed=0, verbose=0)  # 4% of 30 steps: less than one screen each
    network().fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[small])
    assert small.result.budget == 4 and small.result.spent == 4
    assert list(small.result.steps) == [0, 0, 0, 0]


def test_explicit_probes_still_win():
    x, y = labelled()
    model = network()
    callback = SampledLyapunov(k=3, x=x[-16:], y=y[-16:], seed=0, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[callback])
    assert "the 16 probes of x" in callback.result.measured_at


def test_a_train_step_without_a_loss_falls_back_to_the_norm_score_on_fit_batch():
    class NoLossLogs(keras.Model):
        def train_step(self, *args, **kwargs):
            logs = super().train_step(*args, **kwargs)
            if keras.backend.backend() == "jax":
                logs, state = logs
                return {"accuracy": logs.get("loss", 0.0)}, state
            return {"accuracy": logs["loss"]}

    inputs = keras.Input((FEATURES,))
    h = keras.layers.LeakyReLU(0.01)(keras.layers.Dense(
        8, kernel_initializer=LyapunovOrthogonal(seed=1))(inputs))
    model = NoLossLogs(inputs, keras.layers.Dense(3, kernel_initializer=LyapunovOrthogonal(
        1.0, seed=2))(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = labelled()
    callback = SampledLyapunov(k=3, seed=0, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[callback])
    ours = [w for w in caught if "scored by 'target-norm'" in str(w.message)]
    assert ours and "reports no 'loss'" in str(ours[0].message)
    assert "fit's first batch" in str(ours[0].message)
    assert ours[0].filename == __file__  # the user's fit line, not Keras's
    assert callback.result.score == "target-norm" and callback.result.selected


# --------------------------------------------------------------------------
# What fit accepts, the trial accepts (reliability campaign 3, D3-D6, D8, D10, D11, D15, D16)
# --------------------------------------------------------------------------


def test_d3_an_embedding_model_is_sampled_by_the_loss_score():
    tokens = np.random.default_rng(0).integers(1, 20, (64, 4)).astype("int32")
    y = np.arange(64) % 3
    model = keras.Sequential([
        keras.Input((4,), dtype="int32"),
        keras.layers.Embedding(20, 8, embeddings_initializer=LyapunovOrthogonal(seed=1)),
        keras.layers.Flatten(),
        keras.layers.Dense(3, kernel_initializer=LyapunovOrthogonal(1.0, seed=2))])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = SampledLyapunov(k=3, seed=0, verbose=0)
    model.fit(tokens, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    assert callback.result.selected and callback.result.score == "loss"


def two_headed():
    inputs = keras.Input((8,))
    h = keras.layers.LeakyReLU(0.01)(keras.layers.Dense(
        16, kernel_initializer=LyapunovOrthogonal(seed=1))(inputs))
    cls = keras.layers.Dense(3, name="cls", kernel_initializer=LyapunovOrthogonal(1.0, seed=2))(h)
    reg = keras.layers.Dense(1, name="reg", kernel_initializer=LyapunovOrthogonal(1.0, seed=3))(h)
    model = keras.Model(inputs, {"cls": cls, "reg": reg})
    model.compile("adam", {"cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           "reg": "mse"})
    return model


def test_d4_d10_d11_several_outputs_with_a_dict_of_losses_and_labels():
    x = np.random.default_rng(0).uniform(size=(64, 8)).astype("float32")
    labels = {"cls": np.arange(64) % 3, "reg": x[:, :1]}
    assert sample_initialization(two_headed(), x, k=3, seed=0, score="target-norm",
                                 verbose=0).selected
    given = sample_initialization(two_headed(), x, labels, k=3, seed=0, verbose=0)
    assert given.score == "loss" and given.selected
    batches = [(x[:32], {"cls": labels["cls"][:32], "reg": labels["reg"][:32]}),
               (x[32:], {"cls": labels["cls"][32:], "reg": labels["reg"][32:]})]
    paired = sample_initialization(two_headed(), iter(batches), k=3, seed=0, verbose=0)
    np.testing.assert_allclose(paired.scores, given.scores, rtol=1e-6)
    callback = SampledLyapunov(k=3, seed=0, verbose=0, budget=given.spent)
    two_headed().fit(x, labels, batch_size=64, epochs=1, shuffle=False, verbose=0,
                     callbacks=[callback])
    np.testing.assert_allclose(callback.result.scores, given.scores, rtol=1e-6)


@pytest.mark.parametrize("loss", ["crossentropy", "ce"])
def test_d5_the_keras_loss_aliases(loss):
    x, y = labelled()
    model = network(loss=loss)
    model.layers[-1].activation = keras.activations.softmax
    assert sample_initialization(model, x, y, k=3, seed=0, verbose=0).score == "loss"


def test_d6_binary_labels_of_shape_n_and_float64_targets():
    x = np.random.default_rng(0).uniform(size=(64, FEATURES)).astype("float32")
    binary = keras.Sequential([
        keras.Input((FEATURES,)),
        keras.layers.Dense(8, kernel_initializer=LyapunovOrthogonal(seed=1)),
        keras.layers.LeakyReLU(0.01),
        keras.layers.Dense(1, activation="sigmoid",
                           kernel_initializer=LyapunovOrthogonal(1.0, seed=2))])
    binary.compile("adam", "binary_crossentropy")
    labels = (np.arange(64) % 2).astype("float32")
    assert sample_initialization(binary, x, labels, k=3, seed=0, verbose=0).selected

    def my_mse(y_true, y_pred):
        return keras.ops.mean((y_true - y_pred) ** 2, axis=-1)

    regression = keras.Sequential([
        keras.Input((FEATURES,)),
        keras.layers.Dense(8, kernel_initializer=LyapunovOrthogonal(seed=1)),
        keras.layers.LeakyReLU(0.01),
        keras.layers.Dense(1, kernel_initializer=LyapunovOrthogonal(1.0, seed=2))])
    regression.compile("adam", my_mse)
    targets = np.random.default_rng(1).normal(size=(64, 1))  # float64
    assert sample_initialization(regression, x, targets, k=3, seed=0, verbose=0).selected


@pytest.mark.parametrize("policy", ["float16", "bfloat16"])
def test_d8_pure_half_precision_policies(policy):
    if keras.backend.backend() == "torch" and policy == "float16":
        pytest.skip("torch's CPU kernels lack float16 matmul gradients in this build")
    x, y = labelled()
    keras.config.set_dtype_policy(policy)
    try:
        model = network()
        callback = SampledLyapunov(k=3, seed=0, verbose=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[callback])
    finally:
        keras.config.set_dtype_policy("float32")
    assert callback.result.score == "loss" and callback.result.chosen is not None


def test_d15_the_trial_minimizes_and_scores_the_regularization_losses():
    x, y = labelled()
    model = keras.Sequential([
        keras.Input((FEATURES,)),
        keras.layers.Dense(16, kernel_initializer=LyapunovNormal(seed=1),
                           kernel_regularizer="l2"),
        keras.layers.LeakyReLU(0.01),
        keras.layers.Dense(3, kernel_initializer=LyapunovNormal(1.0, seed=2),
                           kernel_regularizer=keras.regularizers.L2(1.0))])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    result = sample_initialization(model, x, y, k=3, seed=0, trial_steps=0, verbose=0)
    np.testing.assert_allclose(result.chosen_score,
                               model.evaluate(x, y, batch_size=len(x), verbose=0), rtol=1e-5)


def test_d16_labels_outside_the_class_range_fail_as_fit_fails_or_are_flagged():
    x, y = labelled()
    out_of_range = y + CLASSES
    model = network()
    before = values(model.weights)
    if keras.backend.backend() == "jax":  # JAX's own fit trains on them with loss 0
        with pytest.warns(UserWarning, match="the same training loss"):
            sample_initialization(model, x, out_of_range, k=3, seed=0, verbose=0)
        return
    with pytest.raises(Exception) as selection_error:
        sample_initialization(model, x, out_of_range, k=3, seed=0, verbose=0)
    assert_same(values(model.weights), before)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    with pytest.raises(type(selection_error.value)):
        network().fit(x, out_of_range, batch_size=len(x), epochs=1, verbose=0)


def test_a_diverging_trial_is_not_chosen_silently():
    x, y = labelled()
    model = network(optimizer=keras.optimizers.SGD(1e3))
    with pytest.warns(UserWarning, match="raised the training loss|non-finite"):
        sample_initialization(model, x, y, k=4, seed=0, verbose=0)


def test_an_older_config_with_the_trial_learning_rate_still_loads():
    config = SampledLyapunov(k=4, seed=1).get_config()
    config["trial_learning_rate"] = 1e-3
    with pytest.warns(DeprecationWarning, match="trial_learning_rate"):
        restored = SampledLyapunov.from_config(config)
    assert restored.get_config() == SampledLyapunov(k=4, seed=1).get_config()


def test_several_steps_per_execution_lose_no_batch():
    if keras.backend.backend() == "torch":
        pytest.skip("Keras's torch trainer takes one step per execution")
    x, y = labelled()
    model = network(steps_per_execution=3)
    callback = SampledLyapunov(k=3, seed=0, budget=9, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
    assert callback.result.selected
    reference = network(steps_per_execution=3)
    sample_initialization(reference, x[:BATCH], y[:BATCH], k=3, seed=0, budget=9, verbose=0)
    reference.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(values(model.weights), values(reference.weights), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2 * (N // BATCH)


def test_the_trials_share_fit_compiled_train_step():
    # No second program: fit's train step is traced once, trials and training together.
    if keras.backend.backend() == "torch":
        pytest.skip("PyTorch runs the train step eagerly")
    x, y = labelled()
    model = network()
    traces, train_step = [], model.train_step

    def counted(*args, **kwargs):
        traces.append(1)
        return train_step(*args, **kwargs)

    model.train_step = counted
    callback = SampledLyapunov(k=3, seed=0, budget=9, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[callback])
    assert callback.result.spent > 3  # the trials ran
    assert len(traces) == 1
