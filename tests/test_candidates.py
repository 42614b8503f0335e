"""Candidate draws: on JAX a Lyapunov kernel is drawn by one compiled function of its seed,
with the values the eager draw of the re-seeded initializer gives."""

import keras
import numpy as np
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, _candidates
from keras_lyapunov._seeds import reseeded
from keras_lyapunov.initializers import LyapunovDeltaOrthogonal

jax_only = pytest.mark.skipif(keras.backend.backend() != "jax", reason="a JAX-only path")

CASES = [(LyapunovOrthogonal, (10, 10), "float32"), (LyapunovOrthogonal, (12, 5), "float32"),
         (LyapunovOrthogonal, (4, 9), "float16"), (LyapunovNormal, (10, 10), "float32"),
         (LyapunovNormal, (3, 3, 4, 6), "float32"),
         (LyapunovDeltaOrthogonal, (3, 3, 4, 6), "float32")]


@jax_only
@pytest.mark.parametrize("cls, shape, dtype", CASES)
def test_compiled_draw_gives_the_eager_draws_values(cls, shape, dtype):
    initializer = cls(slope=0.2, seed=1)
    compiled = _candidates.compiled_lyapunov_draw(initializer, shape, dtype)
    for seed in (0, 7, 2**32 - 1):
        eager = keras.ops.convert_to_numpy(reseeded(initializer, seed)(shape, dtype=dtype))
        drawn = keras.ops.convert_to_numpy(compiled(_candidates.jax_seed(seed)))
        assert drawn.shape == shape and drawn.dtype == eager.dtype
        # XLA may round a fused multiply-add differently from the eager ops one by one.
        np.testing.assert_array_max_ulp(drawn, eager, maxulp=2)


@jax_only
def test_compiled_draw_falls_back_to_default_options(monkeypatch):
    monkeypatch.setattr(_candidates, "_DRAW_COMPILER_OPTIONS", {"no_such_xla_option": 1})
    _candidates._compiled_draw.cache_clear()
    try:
        initializer = LyapunovOrthogonal(slope=0.01, seed=0)
        compiled = _candidates.compiled_lyapunov_draw(initializer, (6, 6), "float32")
        eager = reseeded(initializer, 3)((6, 6), dtype="float32")
        np.testing.assert_array_max_ulp(
            keras.ops.convert_to_numpy(compiled(_candidates.jax_seed(3))),
            keras.ops.convert_to_numpy(eager), maxulp=2)
    finally:
        _candidates._compiled_draw.cache_clear()


def test_other_initializers_and_backends_draw_eagerly():
    glorot = keras.initializers.GlorotUniform(seed=0)
    assert _candidates.compiled_lyapunov_draw(glorot, (4, 4), "float32") is None
    lyapunov = _candidates.compiled_lyapunov_draw(LyapunovOrthogonal(seed=0), (4, 4), "float32")
    assert (lyapunov is None) == (keras.backend.backend() != "jax")


def test_a_drawer_compiles_only_the_laws_it_draws_often_enough():
    # Two kernels of one law, one of another: at half the threshold's candidates only the
    # first law reaches it (2 kernels a candidate); the values are the same either way.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,))] + [
        keras.layers.Dense(6, kernel_initializer=LyapunovOrthogonal(slope=0.01)),
        keras.layers.Dense(6, kernel_initializer=LyapunovOrthogonal(slope=0.01)),
        keras.layers.Dense(6, kernel_initializer=LyapunovNormal(slope=0.01))])
    kernels = _candidates.selected_kernels(model, "lyapunov")
    half = -(-_candidates.COMPILED_DRAW_MIN_KERNELS // 2)
    often = _candidates.CandidateDrawer(kernels, batched=False, candidates=half)
    rarely = _candidates.CandidateDrawer(kernels, batched=False, candidates=half - 1)
    compiled = [draw is not None for draw in often._compiled_draws()]
    on_jax = keras.backend.backend() == "jax"
    assert compiled == [on_jax, on_jax, False]
    assert not any(draw is not None for draw in rarely._compiled_draws())
    for a, b in zip(often.values(5), rarely.values(5)):
        np.testing.assert_array_max_ulp(keras.ops.convert_to_numpy(a),
                                        keras.ops.convert_to_numpy(b), maxulp=2)
