"""The equal-compute arm of benchmarks/sampled_fit: every one of the selection's steps is trained."""

import keras
import numpy as np
import pytest

from benchmarks.sampled_fit import BATCH, fit_with_extra_steps


@pytest.mark.parametrize("extra_steps", [0, 3, 7])
def test_equal_compute_trains_every_extra_step_also_beyond_one_epoch(extra_steps):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2 * BATCH + 10, 4)).astype("float32")  # 3 batches per epoch
    y = rng.integers(0, 2, size=len(x))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    fit_with_extra_steps(model, (x, y), epochs=2, extra_steps=extra_steps)
    assert int(model.optimizer.iterations) == 2 * 3 + extra_steps
