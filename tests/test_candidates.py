"""Compiled draws and candidate draws: on JAX a Lyapunov initializer draws a kernel by one
compiled function of its seed, with the values its eager ops give, and a selection's
candidates are drawn through the same function."""

import keras
import numpy as np
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, _candidates, initializers
from keras_lyapunov._seeds import reseeded
from keras_lyapunov.initializers import LyapunovDeltaOrthogonal, jax_seed

jax_only = pytest.mark.skipif(keras.backend.backend() != "jax", reason="a JAX-only path")

CASES = [(LyapunovOrthogonal, (10, 10), "float32"), (LyapunovOrthogonal, (12, 5), "float32"),
         (LyapunovOrthogonal, (4, 9), "float16"), (LyapunovNormal, (10, 10), "float32"),
         (LyapunovNormal, (3, 3, 4, 6), "float32"),
         (LyapunovDeltaOrthogonal, (3, 3, 4, 6), "float32")]


def eager(initializer, seed, shape, dtype):
    """The law's eager ops (keras.random with an int seed), not the compiled draw."""
    return keras.ops.convert_to_numpy(initializer._draw(seed, (), shape, dtype))


def numpy(value):
    return keras.ops.convert_to_numpy(value)


@jax_only
@pytest.mark.parametrize("cls, shape, dtype", CASES)
def test_compiled_draw_gives_the_eager_draws_values(cls, shape, dtype):
    initializer = cls(slope=0.2, seed=1)
    compiled = initializer.compiled_draw(shape, dtype)
    for seed in (0, 7, 2**32 - 1):
        reference = eager(initializer, seed, shape, dtype)
        drawn = numpy(compiled(jax_seed(seed)))
        assert drawn.shape == shape and drawn.dtype == reference.dtype
        # XLA may round a fused multiply-add differently from the eager ops one by one.
        np.testing.assert_array_max_ulp(drawn, reference, maxulp=2)
        # The initializer itself draws through it.
        np.testing.assert_array_max_ulp(numpy(cls(slope=0.2, seed=seed)(shape, dtype=dtype)),
                                        reference, maxulp=2)


@jax_only
def test_a_seed_generator_advances_as_the_eager_draw_advances_it():
    compiled = LyapunovOrthogonal(slope=0.01, seed=keras.random.SeedGenerator(4))
    reference = keras.random.SeedGenerator(4)
    for _ in range(3):
        expected = eager(LyapunovOrthogonal(slope=0.01), reference, (6, 6), "float32")
        np.testing.assert_array_max_ulp(numpy(compiled((6, 6))), expected, maxulp=2)
    np.testing.assert_array_equal(numpy(compiled.seed.state.value),
                                  numpy(reference.state.value))


@jax_only
def test_a_draw_inside_a_trace_takes_the_traced_ops():
    import jax

    generator = keras.random.SeedGenerator(9)
    initializer = LyapunovOrthogonal(slope=0.01, seed=generator)
    expected = eager(LyapunovOrthogonal(slope=0.01), keras.random.SeedGenerator(9), (5, 5),
                     "float32")

    @jax.jit
    def draw(state):
        with keras.StatelessScope(state_mapping=[(generator.state, state)]):
            return initializer((5, 5))

    np.testing.assert_array_max_ulp(numpy(draw(generator.state.value)), expected, maxulp=2)


@jax_only
def test_compiled_draw_falls_back_to_default_options(monkeypatch):
    monkeypatch.setattr(initializers, "_DRAW_COMPILER_OPTIONS", {"no_such_xla_option": 1})
    initializers._compiled_draw.cache_clear()
    try:
        initializer = LyapunovOrthogonal(slope=0.01, seed=0)
        compiled = initializer.compiled_draw((6, 6), "float32")
        np.testing.assert_array_max_ulp(numpy(compiled(jax_seed(3))),
                                        eager(initializer, 3, (6, 6), "float32"), maxulp=2)
    finally:
        initializers._compiled_draw.cache_clear()


def test_compiled_draws_exist_on_jax_only():
    compiled = LyapunovOrthogonal(seed=0).compiled_draw((4, 4), "float32")
    assert (compiled is None) == (keras.backend.backend() != "jax")


def test_a_drawer_draws_lyapunov_kernels_through_their_compiled_draw():
    keras.utils.set_random_seed(0)
    glorot = keras.initializers.GlorotUniform(seed=0)
    model = keras.Sequential([keras.Input((6,))] + [
        keras.layers.Dense(6, kernel_initializer=LyapunovOrthogonal(slope=0.01)),
        keras.layers.Dense(6, kernel_initializer=LyapunovNormal(slope=0.01)),
        keras.layers.Dense(6, kernel_initializer=glorot)])
    kernels = _candidates.selected_kernels(model, "all")
    drawer = _candidates.CandidateDrawer(kernels, batched=False)
    on_jax = keras.backend.backend() == "jax"
    assert [draw is not None for draw in drawer._compiled_singles] == [on_jax, on_jax, False]
    for i, (value, (_, kernel, initializer)) in enumerate(zip(drawer.values(5), kernels)):
        seed = _candidates.derive_seed(5, _candidates._seeds.SEEDED_KERNELS, i)
        fresh = reseeded(initializer, seed)
        expected = (eager(fresh, seed, tuple(kernel.shape), kernel.dtype) if i < 2
                    else numpy(fresh(tuple(kernel.shape), dtype=kernel.dtype)))
        np.testing.assert_array_max_ulp(numpy(value), expected, maxulp=2)
