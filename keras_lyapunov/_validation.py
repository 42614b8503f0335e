"""Argument checks and warnings shared by every module: one message format, no silent clamping.

Each check returns the value in its canonical Python type or raises a
``ValueError`` that names the argument, the valid range and what was received.
NumPy only, no Keras, so :mod:`keras_lyapunov.theory` can use it too.
"""

import contextlib
import importlib.util
import math
import numbers
import os
import sys
import warnings

import numpy as np

_BOOLS = (bool, np.bool_)


def integer(value, name, *, minimum=1):
    """An integer ``>= minimum`` (booleans and integral floats rejected) as an int."""
    if isinstance(value, _BOOLS) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}."
        )
    return int(value)


def whole_number(value, name, *, minimum=1):
    """An integer, or a float with an integral value, ``>= minimum`` (booleans rejected)."""
    integral_float = (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
                      and math.isfinite(value) and float(value).is_integer())
    if integral_float:
        value = int(value)
    return integer(value, name, minimum=minimum)


def positive_finite(value, name, *, what="a positive finite number"):
    """A real number ``0 < value < inf`` as a float."""
    if (
        isinstance(value, _BOOLS)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) < math.inf
    ):
        raise ValueError(f"`{name}` must be {what}. Received: {name}={value!r}.")
    return float(value)


def share(value, name):
    """A real number in the half-open interval (0, 1] as a float."""
    if (isinstance(value, _BOOLS) or not isinstance(value, numbers.Real)
            or not 0.0 < float(value) <= 1.0):
        raise ValueError(
            f"`{name}` must be a number in (0, 1]. Received: {name}={value!r}.")
    return float(value)


def open_unit(value, name):
    """A real number in the open interval (0, 1) as a float."""
    if (
        isinstance(value, _BOOLS)
        or not isinstance(value, numbers.Real)
        or not 0.0 < float(value) < 1.0
    ):
        raise ValueError(f"`{name}` must be a number in (0, 1). Received: {name}={value!r}.")
    return float(value)


def one_of(value, name, options):
    """One of the tuple ``options`` (booleans rejected), returned as the option itself."""
    try:
        found = not isinstance(value, _BOOLS) and value in options
    except (TypeError, ValueError):  # unhashable or array-like values
        found = False
    if not found:
        raise ValueError(f"`{name}` must be one of {options}. Received: {name}={value!r}.")
    return options[options.index(value)]


def verbosity(value, name="verbose"):
    """Keras's ``verbose`` values (0, 1, 2, True, False, ``"auto"``) as 0, 1 or 2.

    ``"auto"`` is 1, as in ``model.fit``; booleans are 0 and 1.
    """
    if isinstance(value, str) and value == "auto":
        return 1
    if isinstance(value, _BOOLS):
        return int(value)
    if isinstance(value, numbers.Integral) and value in (0, 1, 2):
        return int(value)
    raise ValueError(
        f"`{name}` must be 0, 1, 2, True, False or 'auto'. Received: {name}={value!r}.")


def interval(value, name):
    """A pair ``(low, high)`` of finite numbers with ``low < high``, as floats."""
    message = (
        f"`{name}` must be a pair (low, high) of finite numbers with "
        f"low < high. Received: {name}={value!r}."
    )
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as error:
        raise ValueError(message) from error
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(message)
    return low, high


def optional_seed(seed):
    """``None`` or an integer ``>= 0`` (a base seed that others derive from)."""
    if seed is None:
        return None
    if isinstance(seed, _BOOLS) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be None or an integer >= 0. Received: seed={seed!r}.")
    return int(seed)


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_KERAS_SPEC = importlib.util.find_spec("keras")  # found, not imported
_KERAS = (os.path.dirname(os.path.abspath(_KERAS_SPEC.origin)) + os.sep if _KERAS_SPEC
          else _PACKAGE)
_PASSED_THROUGH = (_PACKAGE, _KERAS,
                   os.path.dirname(contextlib.__file__) + os.sep + "contextlib.py")


def warn(message, category=UserWarning):
    """Issues a warning attributed to the first caller outside this package.

    The line a user sees is their own call (inside ``fit``, their ``fit`` call: Keras's
    frames are passed over too), however deep in the package the warning arises.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PASSED_THROUGH):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)
