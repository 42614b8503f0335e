"""Where a kernel's current value came from: its initializer, a selection, or elsewhere.

A sampled selection may only replace kernels that still hold what their
initializer drew (or what an earlier selection chose): never weights that were
trained, loaded (``load_weights``, ``load_model``, ``BackupAndRestore``) or set by
hand, whatever ``optimizer.iterations`` says. The test is exact and stays on the
device: the kernel's *fingerprint* (two wrapping integer checksums of its bits,
:func:`fingerprints`) must equal that of a value it is known to have come from:

- a re-draw of its initializer: an initializer with a fixed seed (an int, or
  None, which Keras turns into a fixed int) returns the same values on every
  call; a Lyapunov initializer seeded by a ``SeedGenerator`` records the
  generator's state before each draw (:func:`seed_state`, :func:`record_draw`),
  so each of its draws can be repeated;
- what a selection left in the variable (:func:`record_selected`).

Nothing is computed at build time beyond that state snapshot (and, on JAX, a
weak reference to the drawn array, which spares the re-draw while it lives), so
the initializers stay as cheap as Keras's own. A kernel whose origin cannot be
shown (e.g. a Keras initializer seeded by a ``SeedGenerator``, whose state has
moved on) counts as not fresh: the selection leaves it alone.
"""

import math
import weakref

import keras
import numpy as np

from keras_lyapunov._forward import compile_function, read_tensor
from keras_lyapunov._seeds import reseeded, takes_seed

# Fingerprints are kept on the host as tuples of two Python ints.
# A SeedGenerator-seeded Lyapunov initializer -> its draws:
# [[generator state before the draw, shape, dtype, fingerprint or None,
#   JAX: a weak reference to the drawn array, else None], ...]
_DRAWN = weakref.WeakKeyDictionary()
# A fixed-seed initializer -> {(shape, dtype): fingerprint of its draw}
_FIXED = weakref.WeakKeyDictionary()
# JAX: a fixed-seed Lyapunov initializer -> {(shape, dtype): weak reference to its draw}
_FIXED_DRAWS = weakref.WeakKeyDictionary()
# id(variable) -> (weak reference to the variable, fingerprint a selection left in it)
_SELECTED = {}
# backend -> the compiled fingerprinting of a list of tensors
_COMPILED = {}

# Initializers that draw nothing at random: a re-draw repeats the original exactly.
_DETERMINISTIC = (keras.initializers.Zeros, keras.initializers.Ones,
                  keras.initializers.Constant, keras.initializers.Identity)

_GOLDEN = -1640531535  # 0x9E3779B1 as an int32: odd, so every entry's bits count


def _bits(flat):
    """The bits of every entry of a flat tensor as int32 (float64 folded, 16-bit widened)."""
    ops = keras.ops
    dtype = keras.backend.standardize_dtype(flat.dtype)
    if dtype in ("float16", "bfloat16"):
        return ops.cast(ops.view(flat, "int16"), "int32")
    if dtype == "float64":
        wide = ops.view(flat, "int64")
        return ops.cast(ops.bitwise_xor(wide, ops.right_shift(wide, 32)), "int32")
    return ops.view(ops.cast(flat, "float32"), "int32")


def _fingerprint(value):
    """The two checksums of one tensor, as an int32 tensor of shape ``(2,)`` (traceable)."""
    ops = keras.ops
    size = math.prod(value.shape)
    bits = _bits(ops.reshape(value, (size,)))
    position = ops.arange(size, dtype="int32")
    odd = 2 * position + 1
    mixed = ops.bitwise_or(position * _GOLDEN, 1)
    return ops.stack([ops.sum(bits * odd), ops.sum(bits * mixed)])


def _host_fingerprint(array):
    """:func:`_fingerprint` of a NumPy array, on the host (integers wrap the same way)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.dtype in (np.float16,) or str(flat.dtype) == "bfloat16":
        bits = flat.view(np.int16).astype(np.int32)
    elif flat.dtype == np.float64:
        wide = flat.view(np.int64)
        bits = (wide ^ (wide >> 32)).astype(np.int32)
    else:
        bits = flat.astype(np.float32).view(np.int32)
    position = np.arange(flat.size, dtype=np.int32)
    with np.errstate(over="ignore"):
        odd = 2 * position + 1
        mixed = (position * np.int32(_GOLDEN)) | 1
        return np.array([np.sum(bits * odd, dtype=np.int32),
                         np.sum(bits * mixed, dtype=np.int32)])


# Below this many entries in all, fingerprints are taken on the host: reading a few
# small tensors costs less than compiling a program for them (a cold selection's
# largest cost on JAX); above it, one compiled call keeps the data on the device.
_HOST_ENTRIES = 1 << 20


def _compiled_fingerprints():
    backend = keras.backend.backend()
    if backend not in _COMPILED:
        _COMPILED[backend] = compile_function(
            lambda tensors: keras.ops.stack([_fingerprint(t) for t in tensors]),
            exact_shapes=True)  # static sizes for the bit views
    return _COMPILED[backend]


def fingerprints(values):
    """Two wrapping integer checksums of the bits of each tensor, as host tuples.

    For a tensor with entry bits ``b_i`` (as int32) the checksums are
    ``sum_i b_i (2 i + 1)`` and ``sum_i b_i ((i * 0x9E3779B1) | 1)``, modulo
    ``2**32``. Integer arithmetic modulo ``2**32`` is exact and associative, so
    the result depends on nothing but the bits (not on the device, the backend
    or the order of reduction). Each multiplier is odd, so a change of any single
    entry changes both checksums; two different tensors share both only by a
    ~2**-64 accident. Small tensors (:data:`_HOST_ENTRIES` entries in all) are
    read and summed on the host, which costs less than compiling a program;
    larger ones go through one compiled call, and only the ``(n, 2)`` table of
    integers crosses to the host. Both give the same integers.

    Args:
        values: a list of floating tensors or variable values (any shapes).

    Returns:
        A list of ``(int, int)`` tuples, one per value.

    Example:
        >>> fingerprints([keras.ops.ones((2, 2))]) == fingerprints([keras.ops.ones((2, 2))])
        True
    """
    if not values:
        return []
    if sum(math.prod(value.shape) for value in values) <= _HOST_ENTRIES:
        return [tuple(int(c) for c in _host_fingerprint(keras.ops.convert_to_numpy(value)))
                for value in values]
    # Every value is read into a tensor first: the compiled function is shared by every
    # model of the process, and a variable handed to it (a tf.distribute MirroredVariable
    # is one) would be captured on the first trace and read again for every later model.
    table = keras.ops.convert_to_numpy(_compiled_fingerprints()(
        [read_tensor(value) for value in values]))
    return [(int(a), int(b)) for a, b in table]


def _concrete(value):
    """Whether ``value`` is an actual tensor (not traced inside a compiled function)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return not isinstance(value, jax.core.Tracer)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    return True


def seed_state(seed):
    """A snapshot of a ``SeedGenerator``'s state before a draw; None for other seeds."""
    if not isinstance(seed, keras.random.SeedGenerator):
        return None
    state = seed.state.value
    if not _concrete(state):
        return None
    # JAX arrays are immutable; other backends update the state in place.
    return state if keras.backend.backend() == "jax" else keras.ops.copy(state)


def record_draw(initializer, state, shape, dtype, value):
    """Remembers a draw of ``initializer`` from the generator state ``state``.

    On JAX, whose arrays are immutable, also a weak reference to the drawn ``value``:
    while it lives (a kernel built by the draw holds it until it trains), its
    fingerprint is taken from it instead of from a re-draw.
    """
    dtype = keras.backend.standardize_dtype(dtype)
    drawn = (weakref.ref(value) if keras.backend.backend() == "jax" and _concrete(value)
             else None)
    if state is not None:
        _DRAWN.setdefault(initializer, []).append([state, tuple(shape), dtype, None, drawn])
    elif drawn is not None and takes_seed(initializer) and initializer.seed is not None:
        _FIXED_DRAWS.setdefault(initializer, {})[(tuple(shape), dtype)] = drawn


def record_selected(variables, alongside=()):
    """Remembers the values a selection leaves in ``variables``.

    ``alongside``: variables fingerprinted in the same call and not recorded, so
    that the call has the layout of an earlier :func:`states` call and reuses its
    compiled program (tracing a new one costs more than the selection on JAX).
    """
    found = fingerprints([v.value for v in [*variables, *alongside]])
    for variable, value in zip(variables, found[:len(variables)]):
        key = id(variable)
        _SELECTED[key] = (weakref.ref(variable, lambda _, key=key: _SELECTED.pop(key, None)),
                          value)


def _selection_record(variable):
    """The fingerprint the last selection left in ``variable``, or None."""
    entry = _SELECTED.get(id(variable))
    return entry[1] if entry is not None and entry[0]() is variable else None


def _redraw(initializer, seed, shape, dtype):
    """What ``initializer`` draws with ``seed``."""
    return reseeded(initializer, seed)(shape, dtype=dtype)


def _redraw_from_state(initializer, generator, state, shape, dtype):
    """The draw ``initializer`` made when its generator was at ``state``."""
    generator.state.assign(state)
    return _redraw(initializer, generator, shape, dtype)


def _live(reference):
    """The array a weak reference of :func:`record_draw` names, while it lives and was not
    donated to a compiled step (JAX), else None."""
    value = reference() if reference is not None else None
    return None if value is None or value.is_deleted() else value


def _draw_missing(pairs):
    """Repeats, once each, the initializer draws whose fingerprints are not known yet."""
    pending = []  # (store, key, re-drawn value)
    generator = None  # one generator, set to each recorded state in turn
    for variable, initializer in pairs:
        shape = tuple(variable.shape)
        dtype = keras.backend.standardize_dtype(variable.dtype)
        seed = getattr(initializer, "seed", None)
        if isinstance(seed, keras.random.SeedGenerator):
            for record in _DRAWN.get(initializer, ()):
                if record[1] == shape and record[2] == dtype and record[3] is None:
                    record[3] = ()  # queued
                    value = _live(record[4])
                    if value is None:
                        generator = generator or keras.random.SeedGenerator(0)
                        value = _redraw_from_state(initializer, generator, record[0], shape,
                                                   dtype)
                    pending.append((record, 3, value))
        elif takes_seed(initializer) and seed is not None or isinstance(
                initializer, _DETERMINISTIC):
            # A fixed seed, or no randomness: the same values on every call.
            cache = _FIXED.setdefault(initializer, {})
            if (shape, dtype) not in cache:
                cache[(shape, dtype)] = ()  # queued
                value = _live(_FIXED_DRAWS.get(initializer, {}).get((shape, dtype)))
                if value is None:
                    value = (initializer(shape, dtype=dtype)
                             if isinstance(initializer, _DETERMINISTIC)
                             else _redraw(initializer, seed, shape, dtype))
                pending.append((cache, (shape, dtype), value))
    for (store, key, _), value in zip(pending, fingerprints([p[2] for p in pending])):
        store[key] = value


def _known(variable, initializer):
    """Fingerprints of the values ``variable`` is known to have held fresh."""
    known = {_selection_record(variable)} - {None}
    shape = tuple(variable.shape)
    dtype = keras.backend.standardize_dtype(variable.dtype)
    if isinstance(getattr(initializer, "seed", None), keras.random.SeedGenerator):
        known.update(record[3] for record in _DRAWN.get(initializer, ())
                     if record[1] == shape and record[2] == dtype)
    elif initializer in _FIXED:
        known.add(_FIXED[initializer].get((shape, dtype)))
    return known


FRESH, MOVED, UNKNOWN = "fresh", "moved", "unknown"


def states(pairs):
    """For each ``(variable, initializer)``: where its current value comes from.

    ``FRESH``: it holds its initializer's draw (a re-draw of a fixed-seed or
    deterministic initializer, or a recorded Lyapunov draw) or what a selection
    left in it; ``MOVED``: its origin is known and it holds none of those values
    (trained, loaded or set by hand); ``UNKNOWN``: its origin cannot be told.

    Args:
        pairs: a sequence of ``(variable, initializer)``.

    Returns:
        A list of ``FRESH``, ``MOVED`` or ``UNKNOWN``. All variables go through one
        compiled fingerprint call; only integers cross to the host.
    """
    _draw_missing(pairs)
    current = fingerprints([variable.value for variable, _ in pairs])
    found = []
    for (variable, initializer), now in zip(pairs, current):
        known = _known(variable, initializer) - {None}
        found.append(FRESH if now in known else MOVED if known else UNKNOWN)
    return found
