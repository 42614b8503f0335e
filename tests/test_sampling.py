"""sample_initialization and the SampledLyapunov callback."""

import dataclasses
import json
import math
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_lyapunov import (
    LyapunovNormal,
    LyapunovOrthogonal,
    _candidates,
    _probes,
    _provenance,
    _scores,
    _trials,
)
from keras_lyapunov.networks import leaky_relu_mlp
from keras_lyapunov.sampling import (
    DEFAULT_TRIAL_STEPS,
    SampledLyapunov,
    SelectionSettings,
    sample_initialization,
)


def stack(depth=12, width=8, slope=0.01, init_cls=LyapunovOrthogonal, head=None,
          first_he=False, input_dim=8):
    """Dense layers d0, d1, ... with biases, each + LeakyReLU, and an optional head."""
    gen = keras.random.SeedGenerator(0)

    def kernel_initializer(index, slope_after):
        if index == 0 and first_he:
            return keras.initializers.HeNormal(seed=1)
        return init_cls(slope=slope, seed=gen)

    units = [width] * depth + ([3] if head is not None else [])
    names = [f"d{i}" for i in range(depth)] + (["head"] if head is not None else [])
    return leaky_relu_mlp(input_dim, units, slope, kernel_initializer, use_bias=True,
                          output_activation=head, names=names)


def weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def probes(n=64, dim=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, dim)).astype("float32")


def mean_log_gain(model, x):
    y = keras.ops.convert_to_numpy(model(x)).reshape(len(x), -1)
    return float(np.mean(np.log(np.linalg.norm(y, axis=1) / np.linalg.norm(x, axis=1))))


# ------------------------------------------------------------------ selection


def test_chooses_the_argmin_and_the_model_holds_it():
    model, x = stack(), probes()
    result = sample_initialization(model, x, k=8, seed=3, score="scale-free")
    assert result.selected and result.chosen == int(np.argmin(result.scores))
    assert result.chosen_score == result.scores.min()
    # The model now holds the chosen candidate: its score, recomputed here, matches.
    np.testing.assert_allclose(mean_log_gain(model, x), result.statistics[result.chosen],
                               rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(result.scores)) and len(result.seeds) == 8
    assert len(set(result.scores)) == 8  # candidates really differ
    assert len(result.variables) == 12


def test_candidates_depend_only_on_seed_and_index():
    # Candidate i is a function of (seed, i): a shorter run reproduces a prefix.
    full = sample_initialization(stack(), probes(), k=6, seed=11)
    prefix = sample_initialization(stack(), probes(), k=3, seed=11)
    np.testing.assert_array_equal(prefix.scores, full.scores[:3])
    assert prefix.seeds == full.seeds[:3]
    other = sample_initialization(stack(), probes(), k=3, seed=12)
    assert not np.array_equal(other.scores, prefix.scores)


def test_selection_improves_on_a_single_draw():
    # With 16 candidates the chosen |mean log gain| is far below a typical draw's.
    result = sample_initialization(stack(depth=30), probes(), k=16, seed=0)
    assert result.chosen_score <= np.median(result.scores)
    assert result.chosen_score < 0.5 * np.sqrt(30) * 0.4


def test_target_norm_scores_log_mean_output_norm():
    model, x = stack(), probes()
    result = sample_initialization(model, x, k=6, seed=2, target_norm=3.0)
    y = keras.ops.convert_to_numpy(model(x))
    stat = math.log(np.mean(np.linalg.norm(y, axis=1)))
    assert abs(stat - result.statistics[result.chosen]) < 1e-5
    np.testing.assert_allclose(result.scores, np.abs(result.statistics - math.log(3.0)))
    assert result.chosen == int(np.argmin(result.scores))


def test_measures_before_a_saturating_head_and_restores_it():
    model, x = stack(head="softmax"), probes()
    result = sample_initialization(model, x, k=4, seed=0, score="scale-free")
    assert "softmax" in result.measured_at and "head" in result.measured_at
    assert model.get_layer("head").activation is keras.activations.softmax
    out = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    # The statistic is that of the logits, not of the probabilities.
    head = model.get_layer("head")
    h = keras.Model(model.inputs, head.input)(x)
    z = keras.ops.convert_to_numpy(keras.ops.matmul(h, head.kernel) + head.bias)
    stat = np.mean(np.log(np.linalg.norm(z, axis=1) / np.linalg.norm(x, axis=1)))
    assert abs(stat - result.statistics[result.chosen]) < 1e-4


def test_softmax_layer_head():
    gen = keras.random.SeedGenerator(0)
    model = keras.Sequential([keras.Input((8,)),
                              keras.layers.Dense(8, kernel_initializer=LyapunovNormal(seed=gen)),
                              keras.layers.Softmax(name="probabilities")])
    result = sample_initialization(model, probes(), k=3, seed=0)
    assert "probabilities" in result.measured_at
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(probes())).sum(axis=1), 1,
                               rtol=1e-5)


def test_default_probes_are_uniform_on_the_input_shape():
    model = stack()
    result = sample_initialization(model, k=3, seed=0)
    assert result.selected
    probes_drawn = keras.ops.convert_to_numpy(
        _probes.probe_inputs(model, None, 1000, (0.0, 1.0), seed=0))
    assert probes_drawn.shape == (1000, 8)
    assert probes_drawn.min() >= 0 and probes_drawn.max() < 1
    assert abs(probes_drawn.mean() - 0.5) < 4 * math.sqrt(1 / 12 / 8000)


def test_probes_from_a_dataset_iterable():
    x = probes(100)
    batches = [(x[i:i + 30], np.zeros(len(x[i:i + 30]))) for i in range(0, 100, 30)]
    a = sample_initialization(stack(), iter(batches), k=3, seed=5, num_probes=64)
    b = sample_initialization(stack(), x[:64], k=3, seed=5)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


def test_tf_data_dataset_probes():
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.data tensors feed the TensorFlow backend in this test")
    x = probes(100)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(100))).batch(32)
    a = sample_initialization(stack(), dataset, k=3, seed=5, num_probes=64)
    b = sample_initialization(stack(), x[:64], k=3, seed=5)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)


# ------------------------------------------------------------------ which kernels


def test_only_lyapunov_kernels_by_default_and_frozen_layers_untouched():
    model = stack(first_he=True)
    model.get_layer("d3").trainable = False
    before = {layer.name: keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers
              if isinstance(layer, keras.layers.Dense)}
    result = sample_initialization(model, probes(), k=3, seed=0)
    after = {layer.name: keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers
             if isinstance(layer, keras.layers.Dense)}
    np.testing.assert_array_equal(before["d0"], after["d0"])  # HeNormal: not Lyapunov
    np.testing.assert_array_equal(before["d3"], after["d3"])  # trainable=False
    assert not np.array_equal(before["d5"], after["d5"])
    assert not any("d0/" in p or "d3/" in p for p in result.variables)
    assert len(result.variables) == 10


def test_layers_all_and_explicit_list():
    model = stack(first_he=True)
    before = keras.ops.convert_to_numpy(model.get_layer("d0").kernel)
    result = sample_initialization(model, probes(), k=2, seed=0, layers="all")
    assert len(result.variables) == 12
    assert not np.array_equal(before, keras.ops.convert_to_numpy(model.get_layer("d0").kernel))
    model = stack()
    kept = keras.ops.convert_to_numpy(model.get_layer("d1").kernel)
    result = sample_initialization(model, probes(), k=2, seed=0,
                                   layers=["d2", model.get_layer("d4")])
    assert len(result.variables) == 2
    np.testing.assert_array_equal(kept, keras.ops.convert_to_numpy(model.get_layer("d1").kernel))
    with pytest.raises(ValueError, match="layers"):
        sample_initialization(model, probes(), k=2, layers=["nope"])


def test_functional_and_subclassed_models():
    gen = keras.random.SeedGenerator(0)
    inputs = keras.Input((8,))
    h = keras.layers.Dense(8, kernel_initializer="glorot_uniform")(inputs)
    for _ in range(6):
        h = keras.layers.LeakyReLU(0.01)(h)
        h = keras.layers.Dense(8, kernel_initializer=LyapunovNormal(seed=gen))(h)
    functional = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(h))
    result = sample_initialization(functional, probes(), k=3, seed=0, score="scale-free")
    assert result.selected and "sigmoid" in result.measured_at

    class Deep(keras.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [keras.layers.Dense(8, kernel_initializer=LyapunovOrthogonal(seed=gen))
                           for _ in range(6)]
            self.act = keras.layers.LeakyReLU(0.01)

        def call(self, x):
            for block in self.blocks:
                x = self.act(block(x))
            return x

    sub = Deep()
    with pytest.raises(ValueError, match="`x` is required"):
        sample_initialization(sub, k=2)
    result = sample_initialization(sub, probes(), k=3, seed=0, score="scale-free")
    assert result.selected and len(result.variables) == 6
    np.testing.assert_allclose(mean_log_gain(sub, probes()), result.statistics[result.chosen],
                               atol=1e-5)


def test_no_lyapunov_layer_raises():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="No kernel to re-sample"):
        sample_initialization(model, k=2)


def test_no_weights_are_added():
    model = stack()
    count = len(model.weights)
    sample_initialization(model, probes(), k=4, seed=0)
    assert len(model.weights) == count


# ------------------------------------------------------------------ safety


def test_trained_model_is_left_untouched():
    model, x = stack(), probes()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((len(x), 8)), epochs=1, batch_size=64, verbose=0)
    before = weights(model)
    with pytest.warns(UserWarning, match="already trained"):
        result = sample_initialization(model, x, k=3, seed=0)
    assert not result.selected and "already trained" in result.skipped
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)


def test_exception_restores_the_original_weights(monkeypatch):
    model, x = stack(), probes()
    before = weights(model)
    calls = {"n": 0}
    real = _candidates.CandidateDrawer.values

    def failing(self, seed):
        calls["n"] += 1
        drawn = real(self, seed)  # the kernels hold candidate 2 when it fails
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return drawn

    monkeypatch.setattr(_candidates.CandidateDrawer, "values", failing)
    with pytest.raises(RuntimeError, match="boom"):
        sample_initialization(model, x, k=5, seed=0)
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)


class NaNUnlessPositive(keras.layers.Layer):
    """Passes x through when the watched kernel's [0, 0] entry is > 0, else NaN."""

    def __init__(self, watched=None, always=False, **kwargs):
        super().__init__(**kwargs)
        self.watched, self.always = watched, always

    def call(self, x):
        if self.always:
            return x * float("nan")
        ok = keras.ops.cast(self.watched.kernel[0, 0] > 0, x.dtype)
        return x / ok  # inf or nan where not ok


def test_non_finite_candidates_are_discarded():
    gen = keras.random.SeedGenerator(0)
    dense = keras.layers.Dense(8, kernel_initializer=LyapunovNormal(seed=gen))
    model = keras.Sequential([keras.Input((8,)), dense, NaNUnlessPositive(dense)])
    result = sample_initialization(model, probes(), k=12, seed=0)
    finite = np.isfinite(result.scores)
    assert 0 < finite.sum() < 12  # some candidates discarded, some kept
    assert np.all(np.isnan(result.statistics[~finite]))
    assert finite[result.chosen]
    assert keras.ops.convert_to_numpy(dense.kernel)[0, 0] > 0


def test_all_non_finite_keeps_original_weights():
    gen = keras.random.SeedGenerator(0)
    dense = keras.layers.Dense(8, kernel_initializer=LyapunovNormal(seed=gen))
    model = keras.Sequential([keras.Input((8,)), dense, NaNUnlessPositive(always=True)])
    before = weights(model)
    with pytest.warns(UserWarning, match="non-finite"):
        result = sample_initialization(model, probes(), k=4, seed=0)
    assert not result.selected and result.chosen is None
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs,name", [
    (dict(k=0), "k"), (dict(k=2.5), "k"), (dict(k=True), "k"), (dict(k="3"), "k"),
    (dict(num_probes=0), "num_probes"), (dict(seed=-1), "seed"), (dict(seed=1.5), "seed"),
    (dict(target_norm=0.0), "target_norm"), (dict(target_norm=float("inf")), "target_norm"),
    (dict(layers="some"), "layers"), (dict(verbose=3), "verbose"),
    (dict(probe_range=(1, 0)), "probe_range"), (dict(score="norm"), "score"),
    (dict(score="loss", target_norm=1.0), "target_norm"),
    (dict(trial_steps=-1), "trial_steps"), (dict(trial_steps=1.5), "trial_steps"),
    (dict(budget=3, k=4), "budget"),
    (dict(budget=2.5), "budget"),
    (dict(budget_share=0.0), "budget_share"),
    (dict(budget_share=1.5), "budget_share"),
])
def test_bad_arguments(kwargs, name):
    # One validation for the function, the callback and the settings they share.
    model = stack()
    before = weights(model)
    with pytest.raises(ValueError, match=f"`{name}`"):
        sample_initialization(model, probes(), **kwargs)
    with pytest.raises(ValueError, match=f"`{name}`"):
        SampledLyapunov(**kwargs)
    with pytest.raises(ValueError, match=f"`{name}`"):
        SelectionSettings(**kwargs)
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)


def test_settings_are_validated_once_frozen_and_the_callbacks_config():
    settings = SelectionSettings(k=np.int64(4), seed=3, layers=["d1"], target_norm=2,
                                 probe_range=[0, 2], verbose=np.int64(1))
    assert (settings.k, type(settings.k)) == (4, int)
    assert settings.layers == ("d1",) and settings.probe_range == (0.0, 2.0)
    assert settings.target_norm == 2.0 and type(settings.verbose) is int
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.k = 5
    callback = SampledLyapunov(k=4, seed=3, layers=["d1"], target_norm=2, probe_range=[0, 2],
                               verbose=1)
    assert callback.settings == settings
    assert callback.get_config() == settings.config() == {
        "k": 4, "seed": 3, "layers": ["d1"], "num_probes": 256, "score": "auto",
        "target_norm": 2.0, "trial_steps": DEFAULT_TRIAL_STEPS, "budget": None,
        "budget_share": 0.04,
        "probe_range": [0.0, 2.0], "verbose": 1}
    assert (callback.k, callback.seed, callback.layers) == (4, 3, ("d1",))


@pytest.mark.parametrize("bad", [
    np.full((4, 8), np.nan, dtype="float32"),
    np.array([[np.inf] * 8], dtype="float32"),
    np.zeros((4, 5), dtype="float32"),
    np.array(["a"] * 8),
])  # all-zero rows are refused by the scale-free score only (tests/test_faults.py)
def test_bad_probes_raise_naming_x(bad):
    model = stack()
    before = weights(model)
    with pytest.raises(ValueError, match="`x`"):
        sample_initialization(model, bad, k=2)
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ the callback


def test_callback_on_the_papers_100_layer_model():
    gen = keras.random.SeedGenerator(0)
    layers = [keras.Input((784,)),
              keras.layers.Dense(10, kernel_initializer=keras.initializers.Orthogonal(
                  gain=math.sqrt(2 / (1 + 1e-4)), seed=1)),
              keras.layers.LeakyReLU(0.01)]
    for _ in range(98):
        layers += [keras.layers.Dense(10, kernel_initializer=LyapunovOrthogonal(0.01, seed=gen)),
                   keras.layers.LeakyReLU(0.01)]
    layers.append(keras.layers.Dense(10, kernel_initializer=LyapunovOrthogonal(0.01, seed=gen)))
    model = keras.Sequential(layers)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(256, 784)).astype("float32"), rng.integers(0, 10, 256)
    callback = SampledLyapunov(k=10, seed=0, verbose=0)
    history = model.fit(x, y, epochs=2, batch_size=128, callbacks=[callback], verbose=0)
    result = callback.result
    assert result.selected and len(result.scores) == 10 and len(result.variables) == 99
    assert result.chosen == int(np.argmin(result.scores))
    assert all(np.isfinite(history.history["loss"]))


def test_callback_selects_fresh_kernels_and_leaves_a_trained_model():
    x, y = probes(), np.zeros((64, 8), "float32")
    model = stack()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    original = weights(model)
    callback = SampledLyapunov(k=3, seed=0, verbose=0)
    # initial_epoch alone says nothing about the weights: these are fresh draws.
    model.fit(x, y, epochs=2, initial_epoch=1, callbacks=[callback], verbose=0)
    assert callback.result.selected
    chosen = weights(model)
    assert any(not np.array_equal(a, b) for a, b in zip(original, chosen))
    # A second fit on the now-trained model does not re-sample.
    with pytest.warns(UserWarning, match="already trained"):
        model.fit(x, y, epochs=1, callbacks=[callback], verbose=0)
    assert not callback.result.selected
    for a, b in zip(chosen, weights(model)):  # lr=0: weights are what training started from
        np.testing.assert_array_equal(a, b)


def test_progress_bar_and_summary(capsys):
    sample_initialization(stack(), probes(), k=3, seed=0, verbose=1)
    out = capsys.readouterr().out
    assert "3/3" in out and "chose candidate" in out and "scores min" in out
    sample_initialization(stack(), probes(), k=3, seed=0, verbose=0)
    assert capsys.readouterr().out == ""


def test_callback_serialization():
    callback = SampledLyapunov(k=7, seed=3, verbose=0, layers=["d1", "d2"], num_probes=32,
                               target_norm=2.0)
    config = keras.saving.serialize_keras_object(callback)
    revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    assert isinstance(revived, SampledLyapunov)
    assert revived.get_config() == callback.get_config()
    assert revived.get_config()["layers"] == ["d1", "d2"]


def test_same_seed_gives_bit_identical_weights_in_a_new_process(tmp_path):
    script = textwrap.dedent("""
        import sys, numpy as np, keras
        sys.path.insert(0, {tests!r})
        from test_sampling import stack, probes
        from keras_lyapunov import sample_initialization
        model = stack(depth=8)
        sample_initialization(model, probes(), k=5, seed=123)
        np.savez(sys.argv[1], *[keras.ops.convert_to_numpy(w) for w in model.weights])
    """).format(tests=str(__import__("pathlib").Path(__file__).parent))
    outputs = []
    for name in ("a.npz", "b.npz"):
        path = str(tmp_path / name)
        done = subprocess.run([sys.executable, "-c", script, path], capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(np.load(path))
    a, b = outputs
    assert a.files == b.files
    for key in a.files:
        assert a[key].tobytes() == b[key].tobytes()


def test_forward_is_traced_once_per_model_and_saving_still_works(monkeypatch, tmp_path):
    traced = []
    real = _scores.compiled_statistic
    monkeypatch.setattr(_scores, "compiled_statistic",
                        lambda model, target: traced.append(model) or real(model, target))
    model = stack(head="softmax")
    sample_initialization(model, probes(), k=2, seed=0)
    sample_initialization(model, probes(), k=3, seed=1)
    assert len(traced) == 1
    sample_initialization(stack(head="softmax"), probes(), k=2, seed=0)
    assert len(traced) == 2  # a new model traces its own
    path = str(tmp_path / "m.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(probes())),
                               keras.ops.convert_to_numpy(model(probes())), rtol=1e-6)


def test_selection_moves_no_weights_to_numpy(monkeypatch):
    # Weights are drawn and assigned on the backend's device: the only values
    # that cross to the host are scalars (scores, optimizer.iterations) and the
    # kernels' integer fingerprints (two checksums each, see keras_lyapunov._provenance).
    crossed, fingerprints = [], []
    real = keras.ops.convert_to_numpy

    def recording(x):
        value = np.asarray(real(x))
        if value.dtype.kind == "i" and value.ndim == 2 and value.shape[1] == 2:
            fingerprints.append(value.shape)
        else:
            crossed.append(value.size)
        return value

    monkeypatch.setattr(keras.ops, "convert_to_numpy", recording)
    # Small tensors are fingerprinted on the host (cheaper than compiling a program):
    # here the compiled path is forced, the one large models take.
    monkeypatch.setattr(_provenance, "_HOST_ENTRIES", 0)
    model = stack()
    model.compile(optimizer="sgd", loss="mse")
    result = sample_initialization(model, k=4, seed=0)  # default probes: no data crosses
    assert result.selected
    assert crossed and max(crossed) == 1, crossed
    assert fingerprints and all(shape == (12, 2) for shape in fingerprints), fingerprints
    batch = LyapunovOrthogonal(seed=1).draw_batch(3, (8, 8))
    assert keras.ops.is_tensor(batch) and tuple(batch.shape) == (3, 8, 8)


# ------------------------------------------------------------------ which variables, which layers


def lstm_model(initializer=LyapunovOrthogonal):
    return keras.Sequential([
        keras.Input((5, 3)),
        keras.layers.LSTM(8, kernel_initializer=initializer(0.01, seed=1),
                          recurrent_initializer=initializer(0.01, seed=2)),
        keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=3))])


def sequences():
    return np.random.default_rng(0).uniform(size=(16, 5, 3)).astype("float32")


@pytest.mark.parametrize("layers", ["lyapunov", "all"])
def test_recurrent_kernels_are_resampled(layers):
    model = lstm_model()
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}
    result = sample_initialization(model, sequences(), k=4, seed=0, layers=layers)
    cell = model.layers[0].cell
    expected = {cell.kernel.path, cell.recurrent_kernel.path}
    if layers == "all":
        expected.add(model.layers[-1].kernel.path)
    assert set(result.variables) == expected
    changed = {v.path for v in model.weights
               if not np.array_equal(keras.ops.convert_to_numpy(v), before[v.path])}
    assert changed == expected


class SeededScale(keras.layers.Layer):
    """A layer with a seeded variable the selection does not cover (not a kernel)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale_initializer = LyapunovNormal(0.01, seed=5)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1], input_shape[-1]),
                                     initializer=self.scale_initializer)

    def call(self, x):
        return x @ self.scale


def test_seeded_variables_the_selection_does_not_cover_are_named():
    model = stack(depth=3)
    model.add(SeededScale(name="custom"))
    with pytest.warns(UserWarning, match=r"left as they are: custom/scale \(LyapunovNormal\)"):
        sample_initialization(model, probes(), k=2, seed=0)


def test_layers_are_matched_by_identity_not_name():
    model, other = stack(depth=3), stack(depth=3)
    with pytest.raises(ValueError, match="not a layer of this model"):
        sample_initialization(model, probes(), k=2, seed=0, layers=[other.get_layer("d1")])
    result = sample_initialization(model, probes(), k=2, seed=0, layers=[model.get_layer("d1")])
    assert len(result.variables) == 1


def test_duplicate_names_in_nested_models_must_be_given_as_objects():
    inner = stack(depth=2)  # layers d0, d1
    outer = keras.Sequential([keras.Input((8,)), inner, keras.layers.Dense(
        8, name="d0", kernel_initializer=LyapunovOrthogonal(seed=9))])
    with pytest.raises(ValueError, match="2 layers of this model are called"):
        sample_initialization(outer, probes(), k=2, seed=0, layers=["d0"])
    result = sample_initialization(outer, probes(), k=2, seed=0, layers=[inner.get_layer("d0")])
    assert result.variables == (inner.get_layer("d0").kernel.path,)


def test_every_saturating_output_is_measured_before_its_activation():
    generator = keras.random.SeedGenerator(0)
    inputs = keras.Input((8,))
    hidden = keras.layers.LeakyReLU(0.01)(keras.layers.Dense(
        8, kernel_initializer=LyapunovOrthogonal(seed=generator))(inputs))
    linear = keras.layers.Dense(3, name="linear_out",
                                kernel_initializer=LyapunovOrthogonal(seed=generator))(hidden)
    squashed = keras.layers.Dense(3, activation="sigmoid", name="sigmoid_out",
                                  kernel_initializer=LyapunovOrthogonal(seed=generator))(hidden)
    model = keras.Model(inputs, [linear, squashed])
    result = sample_initialization(model, probes(), k=3, seed=0)
    assert "'sigmoid_out' (before its sigmoid)" in result.measured_at
    assert model.get_layer("sigmoid_out").activation is keras.activations.sigmoid


# ------------------------------------------------------------------ probes that used to mislead


def test_tiny_probes_are_not_mistaken_for_zero():
    result = sample_initialization(stack(), probes() * 1e-23, k=2, seed=0)
    assert result.selected and np.all(np.isfinite(result.statistics))


def test_dict_probes_of_a_single_input_model():
    inputs = keras.Input((8,), name="pixels")
    outputs = keras.layers.Dense(8, kernel_initializer=LyapunovOrthogonal(seed=1))(inputs)
    model = keras.Model(inputs, keras.layers.LeakyReLU(0.01)(outputs))
    assert sample_initialization(model, {"pixels": probes()}, k=2, seed=0).selected
    with pytest.raises(ValueError, match="dict of 2 inputs"):
        sample_initialization(model, {"a": probes(), "b": probes()}, k=2, seed=0)


def test_unbatched_dataset_gets_a_clear_message():
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(ValueError, match=r"single samples of shape \(8,\), not batches"):
        sample_initialization(stack(), tf.data.Dataset.from_tensor_slices(probes()), k=2)


def test_integer_input_model_without_probes_gets_a_clear_message():
    model = keras.Sequential([
        keras.Input((5,), dtype="int32"),
        keras.layers.Embedding(20, 8, embeddings_initializer=LyapunovOrthogonal(seed=1)),
        keras.layers.Flatten(), keras.layers.Dense(4, kernel_initializer=LyapunovOrthogonal(seed=2))])
    with pytest.raises(ValueError, match="takes int32 inputs"):
        sample_initialization(model, k=2, seed=0)
    tokens = np.random.default_rng(0).integers(1, 20, (16, 5))
    result = sample_initialization(model, tokens, k=2, seed=0)
    assert any(path.endswith("embeddings") for path in result.variables)


# ------------------------------------------------------------------ the loss score


def labelled(n=64, seed=0):
    x = probes(n, seed=seed)
    return x, (np.arange(n) % 3).astype("int32")


def classifier_stack(compiled=True):
    """Six LeakyReLU Dense layers and a linear head, all Lyapunov-orthogonal."""
    generator = keras.random.SeedGenerator(0)
    model = leaky_relu_mlp(
        8, [8] * 6 + [3], 0.01,
        lambda index, slope_after: LyapunovOrthogonal(slope=slope_after, seed=generator),
        use_bias=True, output_activation="linear")
    if not compiled:
        return model
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_loss_score_keeps_the_candidate_with_the_lowest_trial_loss():
    model, (x, y) = classifier_stack(), labelled()
    result = sample_initialization(model, x, y, k=5, seed=2, trial_steps=3)
    assert result.score == "loss" and "probes of x" in result.measured_at
    finalists = np.flatnonzero(result.steps == result.steps.max())
    assert result.steps.max() == 3 and len(finalists) == 3  # the best half of 5, longer
    assert result.chosen == finalists[np.argmin(result.scores[finalists])]
    np.testing.assert_array_equal(result.scores, result.statistics)
    # Recomputed independently on the weights the model now holds: Keras's own
    # training of a copy, with the model's optimizer (AdamW, as compiled).
    trained = keras.models.clone_model(model)
    trained.set_weights(model.get_weights())
    trained.compile(optimizer=keras.optimizers.Adam(1e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trained.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(float(trained.evaluate(x, y, batch_size=len(x), verbose=0)),
                               result.chosen_score, rtol=1e-5)


@pytest.mark.parametrize("score", ["loss", "scale-free"])
def test_each_candidate_is_drawn_once_and_kept_values_are_the_drawn_ones(monkeypatch, score):
    # The survivors' longer trials and the winner reuse the values the screen drew; with no
    # room to keep them they are drawn again from their seeds, with the same outcome.
    x, y = labelled()
    labels = y if score == "loss" else None
    draws = {"n": 0}
    real = _candidates.CandidateDrawer.values

    def counted(self, seed):
        draws["n"] += 1
        return real(self, seed)

    monkeypatch.setattr(_candidates.CandidateDrawer, "values", counted)
    outcomes = []
    for room, expected_draws in ((None, 5), (0, 5 + 3 + 1 if score == "loss" else 5 + 1)):
        if room is not None:
            monkeypatch.setattr(_candidates, "KEPT_CANDIDATE_BYTES", room)
        draws["n"] = 0
        model = classifier_stack()
        result = sample_initialization(model, x, labels, k=5, seed=2, trial_steps=3,
                                       score=score, verbose=0)
        assert result.selected and draws["n"] == expected_draws
        outcomes.append((result, weights(model)))
    (kept, kept_weights), (redrawn, redrawn_weights) = outcomes
    np.testing.assert_array_equal(kept.scores, redrawn.scores)
    assert kept.chosen == redrawn.chosen
    for a, b in zip(kept_weights, redrawn_weights):
        np.testing.assert_array_equal(a, b)


def test_labels_from_y_or_from_batches_give_the_same_selection():
    (x, y) = labelled()
    given = sample_initialization(classifier_stack(), x, y, k=4, seed=5)
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]
    paired = sample_initialization(classifier_stack(), iter(batches), k=4, seed=5)
    assert given.score == paired.score == "loss"
    np.testing.assert_array_equal(given.scores, paired.scores)


def test_auto_without_labels_or_loss_falls_back_and_says_so():
    x, y = labelled()
    with pytest.warns(UserWarning, match="no labels .* scored by 'target-norm' .target_norm=1"):
        result = sample_initialization(classifier_stack(), x, k=3, seed=0)
    assert result.score == "target-norm"
    # the paper's score with target 1: the statistic is log(mean ||N(x)||)
    np.testing.assert_allclose(result.scores, np.abs(result.statistics))
    uncompiled = classifier_stack(compiled=False)
    with pytest.warns(UserWarning, match="not compiled .* scored by 'target-norm'"):
        assert sample_initialization(uncompiled, x, y, k=3, seed=0).score == "target-norm"


@pytest.mark.filterwarnings("error::UserWarning")
def test_named_scores_are_used_without_a_warning():
    x, y = labelled()
    assert sample_initialization(classifier_stack(), x, k=3, seed=0,
                                 score="scale-free").score == "scale-free"
    paper = sample_initialization(classifier_stack(), x, y, k=3, seed=0, target_norm=2.0)
    assert paper.score == "target-norm"  # "auto" with a target: the paper's score
    assert sample_initialization(classifier_stack(), x, y, k=3, seed=0,
                                 score="target-norm", target_norm=2.0).score == "target-norm"
    explicit = sample_initialization(classifier_stack(), x, k=3, seed=0, score="target-norm")
    fallback = sample_initialization(classifier_stack(), x, k=3, seed=0, target_norm=1.0)
    np.testing.assert_array_equal(explicit.scores, fallback.scores)  # the default target is 1


def test_loss_score_needs_labels_and_a_loss():
    x, y = labelled()
    with pytest.raises(ValueError, match="score='loss' cannot be used: no labels"):
        sample_initialization(classifier_stack(), x, k=3, score="loss")
    with pytest.raises(ValueError, match="score='loss' cannot be used: the model is not compi"):
        sample_initialization(classifier_stack(compiled=False), x, y, k=3, score="loss")
    with pytest.raises(ValueError, match="`y` labels the probes in `x`"):
        sample_initialization(classifier_stack(), None, y, k=3)
    with pytest.raises(ValueError, match="`y` must have a label for each"):
        sample_initialization(classifier_stack(), x, y[:10], k=3)
    with pytest.raises(ValueError, match="pass one of them"):
        sample_initialization(classifier_stack(), iter([(x, y)]), y, k=3)


def test_loss_score_leaves_the_optimizer_and_other_weights_alone():
    model, (x, y) = classifier_stack(), labelled()
    model.optimizer.build(model.trainable_variables)
    for variable in model.optimizer.variables:
        variable.assign(np.full(variable.shape, 0.25, variable.dtype))
    optimizer_before = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    biases_before = [keras.ops.convert_to_numpy(layer.bias) for layer in model.layers
                     if getattr(layer, "bias", None) is not None]
    # iterations was set to 0.25 -> 0: the selection still sees an untrained model
    result = sample_initialization(model, x, y, k=4, seed=1)
    assert result.selected
    for a, b in zip(optimizer_before,
                    [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]):
        np.testing.assert_array_equal(a, b)
    for a, layer in zip(biases_before, [layer for layer in model.layers
                                        if getattr(layer, "bias", None) is not None]):
        np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(layer.bias))


def test_callback_scores_by_the_loss_with_labels_and_restores_on_error(monkeypatch):
    x, y = labelled()
    model = classifier_stack()
    callback = SampledLyapunov(k=3, x=x, y=y, seed=0, verbose=0)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert callback.result.score == "loss" and callback.result.selected

    model = classifier_stack()
    before = weights(model)
    real, calls = _trials.TrainStepTrial.run, {"n": 0}

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_trials.TrainStepTrial, "run", failing)
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[SampledLyapunov(k=3, x=x, y=y, seed=1, verbose=0)])
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)
