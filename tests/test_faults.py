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
    real = _candidates.CandidateDrawer.assign

    def failing(self, seed):
        calls["n"] += 1
        real(self, seed)
        if calls["n"] == 3:
            raise error

    monkeypatch.setattr(_candidates.CandidateDrawer, "assign", failing)
    with pytest.raises(type(error)):
        m.fit(x, np.zeros((64, 3), "float32"), epochs=1, verbose=0,
              callbacks=[SampledLyapunov(k=5, seed=0, verbose=0)])
    assert_same(weights(m), before)
    monkeypatch.setattr(_candidates.CandidateDrawer, "assign", real)
    assert sample_initialization(m, x, k=3, seed=0).selected  # still known to be fresh


def test_gaussian_lyapunov_with_a_shared_seed_generator_is_tracked():
    x, _ = data()
    generator = keras.random.SeedGenerator(7)
    m = leaky_relu_mlp(6, [6, 6, 3], 0.01, lambda i, s: LyapunovNormal(slope=s, seed=generator),
                       output_activation="linear")
    assert sample_initialization(m, x, k=3, seed=0).selected
