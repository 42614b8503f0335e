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
