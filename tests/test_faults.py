"""Fault injection: no path through the selection loses a user's weights.

Every test compares weights bit for bit (same process, same computation): what
training starts from must be exactly the weights that were loaded, trained,
restored from a backup or set by hand, and an interrupted selection must leave
exactly the weights it found.
"""

import keras
import numpy as np
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, SampledLyapunov, _candidates
from keras_lyapunov import sample_initialization
from keras_lyapunov.networks import leaky_relu_mlp


def model(seed=0):
    generator = keras.random.SeedGenerator(seed)
    return leaky_relu_mlp(6, [6, 6, 6, 3], 0.01, lambda i, s: LyapunovOrthogonal(
        slope=s, seed=generator), use_bias=True, output_activation="linear")


def data():
    rng = np.random.default_rng(0)
    return rng.uniform(size=(64, 6)).astype("float32"), rng.normal(size=(64, 3)).astype("float32")


def weights(m):
    return [keras.ops.convert_to_numpy(v).copy() for v in m.weights]


def assert_same(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()


def compiled(m):
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    return m


class FirstStep(keras.callbacks.Callback):
    """Records the weights the first training step starts from."""

    def __init__(self):
        super().__init__()
        self.weights = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.weights is None:
            self.weights = weights(self.model)


class Preempt(keras.callbacks.Callback):
    """Records the weights at the start of `epoch`, then stops the run there."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.weights = epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.weights = weights(self.model)
            raise RuntimeError("preempted")


@pytest.mark.parametrize("selection_first", [True, False])
def test_resume_with_backup_and_restore_continues_from_the_backup(tmp_path, selection_first):
    x, y = data()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))

    def callbacks(*extra):
        selection = SampledLyapunov(k=4, seed=0, verbose=0)
        ordered = [selection, backup] if selection_first else [backup, selection]
        return selection, [*ordered, *extra]

    preempt = Preempt(epoch=1)
    selection, listed = callbacks(preempt)
    with pytest.raises(RuntimeError, match="preempted"):
        compiled(model()).fit(x, y, epochs=3, batch_size=16, callbacks=listed, verbose=0)
    assert selection.result.selected  # the first run selected
    backed_up = preempt.weights  # what the backup holds: the weights after epoch 0

    first_step = FirstStep()
    selection, listed = callbacks(first_step)
    with pytest.warns(UserWarning, match="did not re-sample|replaced after the selection"):
        compiled(model()).fit(x, y, epochs=3, batch_size=16, callbacks=listed, verbose=0)
    assert not selection.result.selected
    assert_same(first_step.weights, backed_up)


def trained_weights_file(tmp_path):
    x, y = data()
    trained = compiled(model())
    trained.fit(x, y, epochs=1, batch_size=16, verbose=0)
    trained.save_weights(str(tmp_path / "trained.weights.h5"))
    trained.save(str(tmp_path / "trained.keras"))
    return weights(trained)


def test_loaded_weights_are_never_resampled(tmp_path):
    x, y = data()
    saved = trained_weights_file(tmp_path)
    loaded = model(seed=1)
    loaded.load_weights(str(tmp_path / "trained.weights.h5"))
    with pytest.warns(UserWarning, match="do not hold the values their initializer drew"):
        result = sample_initialization(loaded, x, k=4, seed=0)
    assert not result.selected
    assert_same(weights(loaded), saved)
    first_step = FirstStep()
    with pytest.warns(UserWarning, match="did not re-sample"):
        compiled(loaded).fit(x, y, epochs=1, batch_size=16, verbose=0,
                             callbacks=[SampledLyapunov(k=4, seed=0, verbose=0), first_step])
    assert_same(first_step.weights, saved)


def test_load_model_without_optimizer_then_compile(tmp_path):
    x, y = data()
    saved = trained_weights_file(tmp_path)
    reloaded = keras.models.load_model(str(tmp_path / "trained.keras"), compile=False)
    first_step = FirstStep()
    with pytest.warns(UserWarning, match="did not re-sample"):
        compiled(reloaded).fit(x, y, epochs=1, batch_size=16, verbose=0,
                               callbacks=[SampledLyapunov(k=4, seed=0, verbose=0), first_step])
    assert_same(first_step.weights, saved)


def test_recompiled_after_training():
    x, y = data()
    m = compiled(model())
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    trained = weights(m)
    compiled(m)  # a fresh optimizer: iterations are 0 again
    assert int(keras.ops.convert_to_numpy(m.optimizer.iterations)) == 0
    first_step = FirstStep()
    with pytest.warns(UserWarning, match="did not re-sample"):
        m.fit(x, y, epochs=1, batch_size=16, verbose=0,
              callbacks=[SampledLyapunov(k=4, seed=0, verbose=0), first_step])
    assert_same(first_step.weights, trained)


def test_weights_set_by_hand():
    x, _ = data()
    m = model()
    by_hand = [np.full(v.shape, 0.25, dtype="float32") for v in m.weights]
    m.set_weights(by_hand)
    with pytest.warns(UserWarning, match="set by hand"):
        assert not sample_initialization(m, x, k=3, seed=0).selected
    assert_same(weights(m), by_hand)


def test_fresh_kernels_and_a_previous_selection_may_be_resampled():
    x, _ = data()
    m = model()
    assert sample_initialization(m, x, k=3, seed=0).selected
    first = weights(m)
    assert sample_initialization(m, x, k=5, seed=0).selected  # re-selecting is allowed
    again = model()
    sample_initialization(again, x, k=3, seed=0)
    assert_same(weights(again), first)


def test_seeded_keras_initializers_are_checked_by_redrawing():
    x, _ = data()

    def glorot_model(seed):
        return leaky_relu_mlp(6, [6, 6, 3], 0.01, lambda i, s: keras.initializers.GlorotUniform(
            seed=seed if isinstance(seed, keras.random.SeedGenerator) else seed + i),
            output_activation="linear")

    assert sample_initialization(glorot_model(3), x, k=3, seed=0, layers="all").selected
    m = glorot_model(keras.random.SeedGenerator(3))  # state moved on: origin unknown
    before = weights(m)
    with pytest.warns(UserWarning, match="origin cannot be told"):
        assert not sample_initialization(m, x, k=3, seed=0, layers="all").selected
    assert_same(weights(m), before)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_selection_restores_exactly(monkeypatch, error):
    x, _ = data()
    m = compiled(model())
    before = weights(m)
    calls = {"n": 0}
    real = _candidates.CandidateDrawer.values

    def failing(self, seed):
        calls["n"] += 1
        drawn = real(self, seed)
        if calls["n"] == 3:
            raise error
        return drawn

    monkeypatch.setattr(_candidates.CandidateDrawer, "values", failing)
    with pytest.raises(type(error)):
        m.fit(x, np.zeros((64, 3), "float32"), epochs=1, verbose=0,
              callbacks=[SampledLyapunov(k=5, seed=0, verbose=0)])
    assert_same(weights(m), before)
    monkeypatch.setattr(_candidates.CandidateDrawer, "values", real)
    assert sample_initialization(m, x, k=3, seed=0).selected  # still known to be fresh


def test_gaussian_lyapunov_with_a_shared_seed_generator_is_tracked():
    x, _ = data()
    generator = keras.random.SeedGenerator(7)
    m = leaky_relu_mlp(6, [6, 6, 3], 0.01, lambda i, s: LyapunovNormal(slope=s, seed=generator),
                       output_activation="linear")
    assert sample_initialization(m, x, k=3, seed=0).selected


# --------------------------------------------------------------------------
# Reliability, round 3 (../shared/reviews/reliability-campaign-3.md)
# --------------------------------------------------------------------------


def labelled_data(n=64, features=8, classes=3):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(n, features)).astype("float32"), np.arange(n) % classes


def lyapunov_classifier(seed=1, features=8):
    built = keras.Sequential([
        keras.Input((features,)),
        keras.layers.Dense(16, kernel_initializer=LyapunovOrthogonal(seed=seed)),
        keras.layers.LeakyReLU(0.01),
        keras.layers.Dense(3, kernel_initializer=LyapunovOrthogonal(1.0, seed=seed + 10))])
    built.compile(keras.optimizers.SGD(0.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return built


def head_trained_on_a_frozen_body():
    """The campaign's D2: stage 1 trains a head on a frozen Lyapunov body; stage 2
    unfreezes everything and recompiles, which resets optimizer.iterations."""
    x, y = labelled_data()
    body = [keras.layers.Dense(16, kernel_initializer=LyapunovOrthogonal(seed=i))
            for i in range(4)]
    net = keras.Sequential([keras.Input((8,))]
                           + [layer for d in body for layer in (d, keras.layers.LeakyReLU(0.01))]
                           + [keras.layers.Dense(3, name="head")])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for d in body:
        d.trainable = False
    net.compile("adam", loss)
    net.fit(x, y, epochs=3, verbose=0)
    for d in body:
        d.trainable = True
    net.compile("adam", loss)
    return net, body, (x, y)


def test_a_head_trained_on_a_frozen_body_keeps_the_body_after_recompiling():
    # D2: the body still holds its draw, but the head learned on it.
    net, _, (x, y) = head_trained_on_a_frozen_body()
    before = weights(net)
    callback, first = SampledLyapunov(k=3, x=x, y=y, seed=0, verbose=0), FirstStep()
    with pytest.warns(UserWarning, match="other weights of the model .*head"):
        net.fit(x, y, epochs=1, verbose=0, callbacks=[callback, first])
    assert not callback.result.selected and "no longer hold" in callback.result.skipped
    assert_same(first.weights, before)


def test_naming_the_layers_re_samples_them_under_trained_weights():
    # The user's say: e.g. a fresh head on a loaded backbone, or this body on purpose.
    net, body, (x, y) = head_trained_on_a_frozen_body()
    head = [keras.ops.convert_to_numpy(w).copy() for w in net.get_layer("head").weights]
    assert sample_initialization(net, x, y, k=3, seed=0, verbose=0, layers=body).selected
    assert_same([keras.ops.convert_to_numpy(w) for w in net.get_layer("head").weights], head)


def test_weights_that_moved_without_a_known_origin_do_not_block_a_selection():
    # A fresh model only moves by training; a variable of unknown origin is not evidence.
    x, y = labelled_data()
    net = lyapunov_classifier()
    assert sample_initialization(net, x, y, k=2, seed=0, verbose=0).selected
    assert sample_initialization(net, x, y, k=2, seed=1, verbose=0).selected  # again


@pytest.mark.parametrize("recurrent", ["LSTM", "GRU", "SimpleRNN"])
def test_a_recurrent_output_layer_is_measured_as_it_is(recurrent):
    # Item 3: its activation has no setter and acts on the cell's state, not the output.
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(32, 5, 4)).astype("float32")
    net = keras.Sequential([keras.Input((5, 4)), getattr(keras.layers, recurrent)(
        6, kernel_initializer=LyapunovOrthogonal(1.0, seed=1),
        recurrent_initializer=LyapunovOrthogonal(1.0, seed=2))])
    result = sample_initialization(net, x, k=3, seed=0, score="target-norm", verbose=0)
    assert result.selected and "recurrent layer" in result.measured_at
    assert np.all(np.isfinite(result.scores))


class TwoLayerNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(16, kernel_initializer=LyapunovOrthogonal(seed=1))
        self.out = keras.layers.Dense(3, kernel_initializer=LyapunovOrthogonal(1.0, seed=2))

    def call(self, inputs):
        return self.out(keras.activations.leaky_relu(self.hidden(inputs), 0.01))


def test_an_unbuilt_model_reads_a_one_shot_generator_once():
    # Item 4: building the model took the first batch; the probes came from the second.
    x, y = labelled_data()
    read = []

    def batches():
        for start in range(0, 64, 16):
            read.append(start)
            yield x[start:start + 16], y[start:start + 16]

    def compiled_net():
        net = TwoLayerNet()
        net.compile(optimizer="adam",
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return net

    from_generator = sample_initialization(compiled_net(), batches(), k=3, seed=0,
                                           num_probes=16, score="loss", verbose=0)
    assert read == [0]  # one batch read, and it is the first
    from_array = sample_initialization(compiled_net(), x[:16], y[:16], k=3, seed=0,
                                       num_probes=16, score="loss", verbose=0)
    np.testing.assert_array_equal(from_generator.statistics, from_array.statistics)


def test_a_subclassed_model_built_by_build_shape_is_built_on_the_probes():
    # D12: model.build(shape) marks the model built, not its layers.
    x, y = labelled_data()
    net = TwoLayerNet()
    net.build((None, 8))
    net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert sample_initialization(net, x, y, k=3, seed=0, verbose=0).selected
    bare = TwoLayerNet()
    bare.build((None, 8))
    with pytest.raises(ValueError, match="are not built .*Pass `x`"):
        sample_initialization(bare, k=3, seed=0, verbose=0)


def test_an_all_zero_probe_row_is_refused_only_where_a_norm_of_x_is_divided_by():
    # D7: a fully padded token row or a zero feature row is ordinary data for the loss.
    x, y = labelled_data()
    x[7] = 0.0
    for score in ("loss", "target-norm"):
        assert sample_initialization(lyapunov_classifier(), x, y, k=2, seed=0, score=score,
                                     verbose=0).selected
    net = lyapunov_classifier()
    before = weights(net)
    with pytest.raises(ValueError, match="all-zero probe input; the scale-free score"):
        sample_initialization(net, x, k=2, seed=0, score="scale-free", verbose=0)
    assert_same(weights(net), before)


def test_a_list_of_labelled_batches_and_one_labelled_tuple_are_read_as_batches():
    # D9: the README promises any iterable of batches, and (x, y) batches give the labels.
    x, y = labelled_data()

    def statistics(given, **kwargs):
        result = sample_initialization(lyapunov_classifier(), given, k=3, seed=0, verbose=0,
                                       **kwargs)
        return result.score, list(result.statistics)

    expected = statistics(iter([(x[:32], y[:32]), (x[32:], y[32:])]))
    assert expected[0] == "loss"  # the labels came with the batches
    assert statistics([(x[:32], y[:32]), (x[32:], y[32:])]) == expected
    assert statistics((x, y)) == expected
    assert (statistics([x[:32], x[32:]], score="target-norm")
            == statistics(x, score="target-norm"))
    with pytest.raises(ValueError, match="`x` must be an array, a tensor, one"):
        sample_initialization(lyapunov_classifier(), [x[:3], [1.0, 2.0]], k=2, seed=0,
                              verbose=0)


def test_two_callbacks_in_one_fit_the_second_skips_and_both_results_are_true():
    # D14: the first one's result said its candidate was in the model; it held the second's.
    x, y = labelled_data()
    net = lyapunov_classifier()
    first = SampledLyapunov(k=4, x=x, y=y, seed=0, verbose=0)
    second = SampledLyapunov(k=4, x=x, y=y, seed=1, verbose=0)
    with pytest.warns(UserWarning, match="another SampledLyapunov callback"):
        net.fit(x, y, epochs=1, verbose=0, callbacks=[first, second])  # lr 0: as selected
    assert first.result.selected and not second.result.selected
    reference = lyapunov_classifier()
    sample_initialization(reference, x, y, k=4, seed=0, verbose=0)
    assert_same(weights(reference), weights(net))
    # A later fit is a new fit: the same callback selects again where it may.
    fresh = lyapunov_classifier(seed=5)
    fresh.fit(x, y, epochs=1, verbose=0, callbacks=[second])
    assert second.result.selected


def test_verbose_takes_what_keras_takes_and_huge_work_shows_progress_at_once(capsys,
                                                                           monkeypatch):
    # Item 9: verbose=True was rejected; k = 10**9 ran for 20 s before anything showed.
    for verbose, expected in ((True, 1), (False, 0), ("auto", 1), (2, 2)):
        assert SampledLyapunov(verbose=verbose).verbose == expected
    with pytest.raises(ValueError, match="`verbose` must be 0, 1, 2, True, False or 'auto'"):
        SampledLyapunov(verbose="loud")
    x, y = labelled_data()
    net = lyapunov_classifier()
    before = weights(net)

    def interrupted(self, seed):
        raise KeyboardInterrupt

    monkeypatch.setattr(_candidates.CandidateDrawer, "values", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample_initialization(net, x, y, k=10**9, seed=0, verbose=True)
    # the bar counts trials: 10**9 screens, then trials of the best half
    assert "0/1500000000" in capsys.readouterr().out
    assert_same(weights(net), before)
