"""keras_lyapunov._provenance: exact, device-independent fingerprints of kernels."""

import keras
import numpy as np
import pytest

from keras_lyapunov._provenance import fingerprints


def reference(array):
    """The definition, in NumPy: sums of int32 bits times odd multipliers, modulo 2**32."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype == np.float16:
        bits = flat.view(np.int16).astype(np.int64)
    else:
        bits = flat.astype(np.float32).view(np.int32).astype(np.int64)
    i = np.arange(flat.size, dtype=np.int64)
    odd = 2 * i + 1
    mixed = ((i * 0x9E3779B1) % 2**32) | 1
    result = []
    for multiplier in (odd, mixed):
        total = int(np.sum((bits * multiplier) % 2**32) % 2**32)
        result.append(total - 2**32 if total >= 2**31 else total)
    return tuple(result)


def test_fingerprints_follow_their_definition_on_every_backend():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(7, 5)).astype("float32"), rng.normal(size=(3,)).astype("float32"),
              rng.normal(size=(2, 3, 4)).astype("float16"), np.full((4, 4), -2.5, "float32")]
    assert fingerprints(arrays) == [reference(a) for a in arrays]
    # A tensor's fingerprint does not depend on the others it is computed with.
    assert fingerprints(arrays[1:2]) == [reference(arrays[1])]


def test_every_single_entry_change_is_seen():
    base = np.random.default_rng(1).normal(size=(6, 6)).astype("float32")
    first = fingerprints([base])[0]
    for i in range(36):
        changed = base.copy().reshape(-1)
        changed[i] = np.nextafter(changed[i], np.float32(np.inf))  # one ulp
        assert fingerprints([changed.reshape(6, 6)])[0] != first
    swapped = base.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # same entries, other places
    assert fingerprints([swapped])[0] != first


def test_variables_and_tensors_agree():
    value = np.random.default_rng(2).normal(size=(3, 3)).astype("float32")
    variable = keras.Variable(value)
    assert fingerprints([variable.value]) == fingerprints([value]) == [reference(value)]


def test_empty_list():
    assert fingerprints([]) == []


@pytest.mark.parametrize("shape", [(1,), (1, 1), (300, 7)])
def test_shapes(shape):
    value = np.random.default_rng(3).normal(size=shape).astype("float32")
    assert fingerprints([value]) == [reference(value)]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_host_and_compiled_fingerprints_are_the_same_integers(dtype, monkeypatch):
    from keras_lyapunov import _provenance

    if dtype == "float64" and keras.backend.backend() == "jax":
        pytest.skip("JAX runs without float64 by default")
    rng = np.random.default_rng(0)
    values = [keras.ops.cast(keras.ops.convert_to_tensor(
        rng.normal(size=shape).astype("float32")), dtype) for shape in [(3, 5), (7,), (4, 4, 2)]]
    host = _provenance.fingerprints(values)
    monkeypatch.setattr(_provenance, "_HOST_ENTRIES", 0)  # force the compiled path
    assert _provenance.fingerprints(values) == host


jax_only = pytest.mark.skipif(keras.backend.backend() != "jax",
                              reason="JAX arrays are immutable: the drawn array itself is kept")


@jax_only
@pytest.mark.parametrize("seed", [3, None, "generator"])
def test_jax_takes_a_live_draw_instead_of_drawing_again(seed, monkeypatch):
    from keras_lyapunov import LyapunovOrthogonal, _provenance

    seed = keras.random.SeedGenerator(5) if seed == "generator" else seed
    layers = [keras.layers.Dense(6, kernel_initializer=LyapunovOrthogonal(seed=seed))
              for _ in range(2)]
    model = keras.Sequential([keras.Input((6,)), *layers])
    pairs = [(layer.kernel, layer.kernel_initializer) for layer in layers]
    kept = keras.ops.convert_to_numpy(layers[1].kernel.value)

    def no_redraw(*args, **kwargs):
        raise AssertionError("drew again although the drawn array lives")

    with monkeypatch.context() as patch:
        patch.setattr(_provenance, "_redraw", no_redraw)
        patch.setattr(_provenance, "_redraw_from_state", no_redraw)
        # Set by hand, while its drawn array still lives (kept by the caller): moved.
        original = layers[1].kernel.value
        layers[1].kernel.assign(kept * 2.0)
        assert _provenance.states(pairs) == [_provenance.FRESH, _provenance.MOVED]
    del original
    # The drawn array is gone: its fingerprint was taken before, the same answer.
    layers[1].kernel.assign(kept)
    assert _provenance.states(pairs) == [_provenance.FRESH, _provenance.FRESH]
    del model


@jax_only
def test_jax_a_donated_draw_is_drawn_again(monkeypatch):
    import jax

    from keras_lyapunov import LyapunovOrthogonal, _provenance

    layer = keras.layers.Dense(4, kernel_initializer=LyapunovOrthogonal(seed=7))
    keras.Sequential([keras.Input((4,)), layer])
    drawn = layer.kernel.value
    values = keras.ops.convert_to_numpy(drawn)
    layer.kernel.assign(values)  # the same values in a new array
    jax.jit(lambda a: a + 1.0, donate_argnums=0)(drawn)  # as fit's train step does
    assert drawn.is_deleted()
    calls = []
    redraw = _provenance._redraw
    monkeypatch.setattr(_provenance, "_redraw", lambda *a, **k: calls.append(1) or redraw(*a, **k))
    assert _provenance.states([(layer.kernel, layer.kernel_initializer)]) == [_provenance.FRESH]
    assert calls == [1]
