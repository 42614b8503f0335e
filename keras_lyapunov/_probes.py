"""Probe inputs, and the log-norms measured on them.

The selection and the signal report both run the model on a probe batch: the
first rows of the user's data, or uniform draws on the model's input shape.
``log_norms`` measures ``log ||y_i||`` per sample without overflow or underflow.
"""

import keras
import numpy as np

from keras_lyapunov import _seeds
from keras_lyapunov._seeds import derive_seed

DEFAULT_PROBE_RANGE = (0.0, 1.0)


def input_spec(model):
    """``(per-sample shape, dtype)`` of a single-input model, ``(None, None)`` if unknown."""
    inputs = getattr(model, "inputs", None)
    if inputs:
        if len(inputs) != 1:
            raise ValueError(
                "sampled selection supports single-input models; this model has "
                f"{len(inputs)} inputs."
            )
        return tuple(inputs[0].shape[1:]), inputs[0].dtype
    return None, None


def _single_input(x):
    """The one input of ``x``: a one-entry dict ``{"input": array}`` gives its array."""
    if isinstance(x, dict):
        if len(x) != 1:
            raise ValueError(
                f"`x` is a dict of {len(x)} inputs ({sorted(x)}); sampled selection "
                "supports single-input models: pass the one input's array.")
        return next(iter(x.values()))
    return x


def _unbatched(batch, sample_ndim):
    return batch.ndim == sample_ndim if sample_ndim is not None else batch.ndim < 2


def _array_like(value):
    return (isinstance(value, np.ndarray) or keras.ops.is_tensor(value)
            or hasattr(value, "__array__"))


def _rows(value):
    """The leading dimension of an array or tensor (read off its shape, no copy), or None."""
    shape = getattr(value, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) and shape[0] is not None else None


def _is_labelled_batch(x):
    """Whether ``x`` is one ``(x, y[, w])`` tuple of arrays with as many rows each."""
    if not (isinstance(x, tuple) and len(x) in (2, 3)) or not all(map(_array_like, x)):
        return False
    rows = {_rows(item) for item in x}
    return len(rows) == 1 and None not in rows


def _is_list_of_batches(x, sample_ndim):
    """Whether a list or tuple holds batches: ``(x, y)`` tuples, or arrays one rank up."""
    if not x:
        return False
    if all(isinstance(item, (tuple, list)) and item and _array_like(item[0]) for item in x):
        return True
    batch_ndim = None if sample_ndim is None else sample_ndim + 1
    return all(_array_like(item) and (np.ndim(item) == batch_ndim if batch_ndim is not None
                                      else np.ndim(item) >= 2) for item in x)


def take_labelled_probes(x, num_probes, sample_ndim=None):
    """Up to ``num_probes`` rows of ``x``, and their labels when ``x`` yields ``(x, y)``.

    Args:
        x: the probe source (array, tensor, dict, tf.data or any iterable, a list
            of batches included); batches may be ``(x, y[, w])`` tuples, and so
            may ``x`` itself (one labelled batch).
        num_probes: rows wanted.
        sample_ndim: the rank of one sample, when known (to recognise unbatched data).

    Returns:
        ``(inputs, labels)`` NumPy arrays; ``labels`` is None unless every batch
        of an iterable ``x`` was an ``(x, y[, w])`` tuple.

    Raises:
        ValueError: naming ``x``, for data that cannot give a batch of probes.
    """
    x = _single_input(x)
    if _array_like(x):
        return np.asarray(keras.ops.convert_to_numpy(x))[:num_probes], None
    if _is_labelled_batch(x):
        x = [x]  # one (x, y[, w]) batch
    if isinstance(x, (list, tuple)) and not _is_list_of_batches(x, sample_ndim):
        try:
            return np.asarray(x)[:num_probes], None
        except ValueError as error:
            raise ValueError(
                "`x` must be an array, a tensor, one (x, y) tuple, or an iterable of "
                "batches (arrays, or (x, y) tuples). Received: a "
                f"{type(x).__name__} that is none of these ({error}).") from error
    try:
        iterator = iter(x)
    except TypeError as error:
        raise ValueError(
            "`x` must be an array, a tensor, a tf.data.Dataset or an iterable of "
            f"batches. Received: x of type {type(x).__name__}."
        ) from error
    rows, labels, count = [], [], 0
    for batch in iterator:
        label = None
        if isinstance(batch, (tuple, list)):
            batch, label = batch[0], (batch[1] if len(batch) > 1 else None)
        batch = np.asarray(keras.ops.convert_to_numpy(_single_input(batch)))
        if _unbatched(batch, sample_ndim):
            raise ValueError(
                f"`x` yields single samples of shape {batch.shape}, not batches: batch it "
                "first (e.g. `dataset.batch(256)` for a tf.data.Dataset).")
        rows.append(batch)
        labels.append(None if label is None else keras.tree.map_structure(
            lambda leaf: np.asarray(keras.ops.convert_to_numpy(leaf)), label))
        count += len(batch)
        if count >= num_probes:
            break
    if not rows:
        raise ValueError("`x` yielded no batches to use as probe inputs.")
    found = None
    if not any(label is None for label in labels):
        try:  # labels of several outputs (dicts, lists) are joined output by output
            found = keras.tree.map_structure(
                lambda *leaves: np.concatenate(leaves)[:num_probes], *labels)
        except (TypeError, ValueError):
            found = None  # batches whose labels differ in structure: read as unlabelled
    return np.concatenate(rows)[:num_probes], found


def _label_rows(y, count):
    """One label array: its first ``count`` rows, checked, as a backend tensor."""
    try:
        labels = np.asarray(keras.ops.convert_to_numpy(y))
    except (TypeError, ValueError) as error:
        raise ValueError(
            "`y` must be an array or tensor of labels with one row per probe (or a dict or "
            f"list of them, one per output). Received: y of type {type(y).__name__}."
        ) from error
    if labels.ndim == 0 or len(labels) < count:
        raise ValueError(
            f"`y` must have a label for each of the {count} probes. Received: "
            f"labels of shape {labels.shape}.")
    labels = labels[:count]
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ValueError("`y` contains NaN or infinite values.")
    if labels.dtype.kind == "f":  # as Keras's data adapters do
        labels = labels.astype(keras.config.floatx())
    return keras.ops.convert_to_tensor(labels)


def probe_labels(y, probes, labels_from_x):
    """The labels of the probes, as backend tensors, or None when there are none.

    Args:
        y: labels given by the user: an array or tensor, or a dict or list of them
            (one per output, as ``fit`` takes them); or None.
        probes: the probe inputs (their count).
        labels_from_x: labels that came with ``x`` as ``(x, y)`` batches, or None.

    Returns:
        The labels in the structure of ``y`` (float labels in Keras's floatx).

    Raises:
        ValueError: naming ``y`` when it is given twice, cannot be read, or has
            fewer rows than the probes.
    """
    if y is not None and labels_from_x is not None:
        raise ValueError("`y` was given, and `x` yields (x, y) batches too: pass one of them.")
    labels = labels_from_x if y is None else y
    if labels is None:
        return None
    if isinstance(labels, (dict, list, tuple)) and not _array_like(labels):
        return keras.tree.map_structure(lambda leaf: _label_rows(leaf, len(probes)), labels)
    return _label_rows(labels, len(probes))


def probe_inputs(model, x, num_probes, probe_range, seed):
    """The probe batch as a backend tensor (see :func:`labelled_probe_inputs`)."""
    return labelled_probe_inputs(model, x, num_probes, probe_range, seed)[0]


def labelled_probe_inputs(model, x, num_probes, probe_range, seed, taken=None):
    """The probe batch as a backend tensor: the first ``num_probes`` rows of ``x``, or
    uniform draws on ``probe_range`` over the model's input shape when ``x`` is None;
    and the labels that came with ``x`` as ``(x, y)`` batches (a NumPy array), or None.

    ``taken``: what :func:`take_labelled_probes` already read from ``x`` (so that a
    one-shot iterator is read once), or None to read it here.

    Raises:
        ValueError: naming ``x`` when it cannot serve as probes.
    """
    shape, dtype = input_spec(model)
    if x is None:
        if shape is None or any(d is None for d in shape):
            raise ValueError(
                "`x` is required: the model's input shape is not known (a subclassed "
                "or unbuilt model). Pass probe inputs, e.g. a batch of training data."
            )
        if dtype is not None and not keras.backend.is_float_dtype(dtype):
            raise ValueError(
                f"`x` is required: the model takes {keras.backend.standardize_dtype(dtype)} "
                "inputs (e.g. token ids for an Embedding), and uniform probes are drawn "
                "only for floating inputs. Pass a batch of real inputs.")
        low, high = probe_range
        return keras.random.uniform(
            (num_probes, *shape), minval=low, maxval=high, dtype=dtype or "float32",
            seed=derive_seed(seed, _seeds.UNIFORM_PROBES),
        ), None
    probes, labels = taken or take_labelled_probes(
        x, num_probes, None if shape is None else len(shape))
    if probes.dtype.kind not in "iuf" or probes.ndim < 2 or len(probes) == 0:
        raise ValueError(
            "`x` must hold a batch of numeric probe inputs of shape (batch, ...). "
            f"Received: array of shape {probes.shape} and dtype {probes.dtype}."
        )
    if shape is not None and not all(
        expected is None or expected == got for expected, got in zip(shape, probes.shape[1:])
    ) or shape is not None and len(shape) != probes.ndim - 1:
        raise ValueError(
            f"`x` has per-sample shape {probes.shape[1:]}, but the model expects {shape}."
        )
    if not np.all(np.isfinite(probes)):
        raise ValueError("`x` contains NaN or infinite values; probe inputs must be finite.")
    return keras.ops.convert_to_tensor(probes, dtype=dtype or keras.config.floatx()), labels


def require_nonzero_rows(probes, needs):
    """Raises a ValueError naming ``x`` if a probe is all zeros (``needs`` says why it matters).

    Exact zeros, not a zero norm: the norm of a tiny float32 input underflows.
    """
    ops = keras.ops
    flat = ops.reshape(probes, (ops.shape(probes)[0], -1))
    if bool(ops.convert_to_numpy(ops.any(ops.all(flat == 0, axis=1)))):
        raise ValueError(f"`x` contains an all-zero probe input; {needs}.")


def log_norms(tensors):
    """``log ||y_i||`` per sample of one tensor or of several joined, as float32.

    Scaled by the largest entry first, so outputs far below float32's range of
    squares (``||y|| < 1e-19``) keep a finite log; ``-inf`` only for ``y_i = 0``.
    """
    ops = keras.ops
    flat = []
    for y in keras.tree.flatten(tensors):
        if y.dtype in ("float16", "bfloat16") or "int" in str(y.dtype):
            y = ops.cast(y, "float32")
        flat.append(ops.reshape(y, (ops.shape(y)[0], -1)))
    flat = ops.concatenate(flat, axis=1) if len(flat) > 1 else flat[0]
    largest = ops.max(ops.abs(flat), axis=1)
    unit = ops.where(largest > 0, largest, ops.ones_like(largest))
    result = ops.log(largest) + ops.log(ops.norm(flat / ops.expand_dims(unit, 1), axis=1))
    return ops.cast(result, "float32")
