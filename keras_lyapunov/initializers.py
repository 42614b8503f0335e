"""Lyapunov initializers for Keras 3: the exponent of each layer is exactly 0.

``LyapunovNormal`` draws an untruncated Gaussian kernel with standard deviation
``sigma_crit``; ``LyapunovOrthogonal`` draws a Haar orthogonal kernel times
``eta_crit``; ``LyapunovDeltaOrthogonal`` puts such a matrix at the centre tap of
a convolution kernel. Both scales come from :mod:`keras_lyapunov.theory` and are exact
for every Dense kernel shape ``(fan_in, units)`` followed by a leaky ReLU of
the given slope (Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4;
docs/theory.md section 3).

Convolutions. ``LyapunovDeltaOrthogonal`` draws a delta-orthogonal kernel (all
taps zero but the centre, a Haar orthogonal ``in_channels x out_channels``
matrix times the exact ``eta_crit``): a chain of such convolutions is, at every
position, the Dense chain the theory solves, so its exponent is exactly zero
(docs/theory.md section 7). ``LyapunovNormal`` and ``LyapunovOrthogonal`` on a
kernel of rank > 2 treat it, as ``keras.initializers.Orthogonal`` does, as the
matrix ``(prod(shape[:-1]), shape[-1])``: the scale is the exact critical scale
of the Dense map from one receptive-field patch to the output channels at one
position, and that is all it means. Overlapping patches share weights, so it
does not make a convolutional network's exponent zero (measure it with
:func:`keras_lyapunov.measure_exponent`).

Weights are drawn with ``keras.random`` and ``keras.ops`` on the backend's
device; no weight passes through NumPy. On JAX an initializer draws a kernel by one
compiled function of its seed (:meth:`LyapunovOrthogonal.compiled_draw`, made once
per process for each law, shape and dtype), which the sampled selection and the
diagnostics reuse to draw their candidates.
"""

import functools
import math
import numbers
import warnings

import keras
import numpy as np

from keras_lyapunov import _provenance, _validation, theory
from keras_lyapunov._seeds import fresh_seed

__all__ = ["DeltaOrthogonal", "LyapunovDeltaOrthogonal", "LyapunovNormal", "LyapunovOrthogonal"]

_HALF_PRECISION = ("float16", "bfloat16")
MAX_SEED = 2**32


def kernel_matrix_shape(shape):
    """``(fan_in, units)`` of a kernel in Keras's matrix view.

    Args:
        shape: the kernel shape, rank >= 2, all dimensions >= 1.

    Returns:
        ``(prod(shape[:-1]), shape[-1])`` as Python ints.

    Raises:
        ValueError: for rank < 2, zero or non-integer dimensions.
    """
    if (  # fast path: the (fan_in, units) tuple of a Dense kernel
        type(shape) is tuple
        and len(shape) == 2
        and type(shape[0]) is int  # `type is`, not isinstance: rejects bool
        and type(shape[1]) is int
        and shape[0] >= 1
        and shape[1] >= 1
    ):
        return shape
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    if len(dims) < 2 or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1
        for d in dims
    ):
        raise ValueError(
            "`shape` must be a kernel shape of rank >= 2 with every dimension "
            "an integer >= 1, e.g. (fan_in, units) for Dense or "
            f"(height, width, in_channels, out_channels) for Conv2D. "
            f"Received: shape={shape!r}."
        )
    dims = tuple(int(d) for d in dims)
    return math.prod(dims[:-1]), dims[-1]


@functools.lru_cache(maxsize=64)
def _floating_dtype(dtype):
    standardized = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    if not keras.backend.is_float_dtype(standardized):
        raise ValueError(
            "`dtype` must be a floating-point dtype (float16, bfloat16, "
            f"float32 or float64). Received: dtype={dtype!r}."
        )
    return standardized


def jax_seed(seed):
    """JAX: the seed array ``keras.random`` makes of the int ``seed`` (``[seed, 0]``, uint32)."""
    return np.array([seed, 0], dtype=np.uint32)


# A draw is a few hundred flops: at XLA's default optimization its compilation takes about
# 0.4 s on a 2-core CPU, at level 1 about 0.12-0.17 s, with the same values.
_DRAW_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


@functools.lru_cache(maxsize=64)
def _compiled_draw(kind, slope, shape, dtype):
    import jax

    law = kind(slope=slope, seed=0)

    def draw(seed):
        return law._draw(seed, (), shape, dtype)

    compiled = jax.jit(draw, compiler_options=_DRAW_COMPILER_OPTIONS)
    try:  # compiled now for a seed on the default device; jit's calls find it
        compiled.lower(jax.ShapeDtypeStruct((2,), np.uint32)).compile()
    except jax.errors.JaxRuntimeError:  # a platform without that option
        compiled = jax.jit(draw)
    return compiled


def _instance_seed(seed):
    """The seed an initializer instance keeps: validated, deserialized, fresh for None."""
    if seed is None:
        # Like keras.initializers: a fixed seed per instance, so repeated
        # calls agree, while clones (new instances) differ.
        seed = fresh_seed()
    elif isinstance(seed, dict):
        seed = keras.saving.deserialize_keras_object(seed)
    if isinstance(seed, bool) or not isinstance(
        seed, (int, keras.random.SeedGenerator)
    ) or isinstance(seed, int) and not 0 <= seed < MAX_SEED:
        # The range every backend accepts (JAX takes uint32 seeds only).
        raise ValueError(
            "`seed` must be None, an integer with 0 <= seed < 2**32, or a "
            f"keras.random.SeedGenerator. Received: seed={seed!r}."
        )
    return seed


class _LyapunovInitializer(keras.initializers.Initializer):
    """Shared slope and seed handling (Keras 3 seed semantics)."""

    distribution = None

    def __init__(self, slope=0.01, seed=None):
        self.slope = theory.validate_slope(slope)
        self._init_seed = seed
        self.seed = _instance_seed(seed)
        self._fixed_seed_calls = 0

    def _count_call(self):
        """Warns once when a fixed-seed instance is reused (identical values)."""
        if isinstance(self.seed, keras.random.SeedGenerator):
            return
        self._fixed_seed_calls += 1
        if self._fixed_seed_calls == 2:
            warnings.warn(
                f"{type(self).__name__} with seed={self._init_seed!r} was called "
                "again: an int or None seed returns the same values on every call "
                "(Keras 3 semantics), so layers sharing this instance get "
                "identical kernels and the i.i.d. theory behind Lyapunov "
                "initialization does not hold. Use one instance per layer, or "
                "seed=keras.random.SeedGenerator(...) for fresh values per call.",
                UserWarning,
                stacklevel=3,
            )

    def _draw(self, seed, batch_shape, shape, dtype):
        """``(*batch_shape, *shape)`` kernels of this law from ``seed``: whatever ``keras.random``
        takes as a seed, also a seed array traced by a compiled function (``_candidates``)."""
        raise NotImplementedError

    def with_seed(self, seed):
        """A new initializer of the same class and slope with another seed.

        Args:
            seed: None, an int or a ``keras.random.SeedGenerator``.

        Returns:
            An initializer of ``type(self)``.
        """
        return type(self)(slope=self.slope, seed=seed)

    def scale(self, shape):
        """The critical scale used for a kernel of this shape.

        Args:
            shape: kernel shape, rank >= 2.

        Returns:
            ``sigma_crit`` or ``eta_crit`` for the matrix view
            ``(prod(shape[:-1]), shape[-1])``.
        """
        return self._critical_scale(*kernel_matrix_shape(shape))

    def _critical_scale(self, fan_in, units):
        return theory.critical_scale(
            units, self.slope, distribution=self.distribution, fan_in=fan_in
        )

    def compiled_draw(self, shape, dtype=None):
        """JAX: this law's draw of one kernel as a compiled function of a seed array.

        Eager JAX dispatches each op of a draw on its own (about 0.3 ms a kernel)
        and compiles a program for each op and new shape (the first orthogonal
        kernel of a shape: about 0.5-0.65 s on a 2-core CPU). Compiled once per
        process for each class, slope, shape and dtype (the first kernel: about
        0.2-0.27 s there), a draw is one call of about 25 us. The initializer
        draws through it, and so do the sampled selection's candidates and the
        diagnostics' ensembles, which find it compiled by the model's build.

        Args:
            shape: the kernel's shape, a tuple.
            dtype: its floating dtype (default: ``keras.config.floatx()``).

        Returns:
            A function of a seed array (``jax_seed(s)`` for an int ``s``, or a
            ``SeedGenerator``'s next seed) that returns the kernel the law's eager
            ``keras.random`` and ``keras.ops`` draw from that seed (within 2 ulps:
            XLA may fuse a multiply-add). None off JAX.

        Raises:
            ValueError: a shape this law cannot draw, as the initializer's call.

        Example:
            >>> draw = LyapunovOrthogonal(slope=0.01).compiled_draw((10, 10))
            >>> kernel = draw(jax_seed(3)) if draw is not None else None
        """
        if keras.backend.backend() != "jax":
            return None
        self.scale(shape)  # validates the shape before it becomes a cache key
        return _compiled_draw(type(self), self.slope, tuple(shape), _floating_dtype(dtype))

    def _draw_own(self, shape, dtype):
        """One kernel from this instance's seed; on JAX through :meth:`compiled_draw`."""
        compiled = self.compiled_draw(shape, dtype)
        if compiled is None:
            return self._draw(self.seed, (), shape, dtype)
        import jax

        seed = jax_seed(self.seed) if isinstance(self.seed, int) else self.seed.next()
        if isinstance(seed, jax.core.Tracer):  # a generator's state inside a trace, where
            return self._draw(seed, (), shape, dtype)  # a jit with compiler options cannot run
        return compiled(seed)

    def __call__(self, shape, dtype=None):
        _floating_dtype(dtype)  # validates; the argument passes on as given
        self._count_call()
        state = _provenance.seed_state(self.seed)
        value = self._draw_own(shape, dtype)
        _provenance.record_draw(self, state, shape, _floating_dtype(dtype), value)
        return value

    def draw_batch(self, count, shape, dtype=None):
        """Draws ``count`` independent kernels of ``shape`` in one call.

        Used by sampled selection to re-draw a whole stack of equal layers at
        once (one batched QR instead of one per layer). The kernels are i.i.d.
        with the law of ``self(shape, dtype)``.

        Args:
            count: number of kernels, an integer >= 1.
            shape: kernel shape (rank >= 2).
            dtype: floating dtype (default: ``keras.config.floatx()``).

        Returns:
            A backend tensor of shape ``(count, *shape)``.
        """
        count = _validation.integer(count, "count")
        _floating_dtype(dtype)
        self._count_call()
        return self._draw(self.seed, (count,), shape, dtype)

    def get_config(self):
        return {
            "slope": self.slope,
            "seed": keras.saving.serialize_keras_object(self._init_seed),
        }


@keras.saving.register_keras_serializable(package="keras_lyapunov")
class LyapunovNormal(_LyapunovInitializer):
    """Gaussian kernel whose Lyapunov exponent is exactly zero.

    Entries are i.i.d. ``N(0, sigma_crit**2)``, untruncated (the theory needs
    a true Gaussian; Keras's ``HeNormal`` is truncated). ``sigma_crit`` is
    exact for the kernel shape ``(fan_in, units)`` and the leaky-ReLU slope
    that follows the layer.

    Args:
        slope: negative slope of the leaky ReLU applied after the layer
            (nonzero; 0.01 by default, as in the paper). Match it to your
            activation: ``keras.layers.LeakyReLU`` defaults to 0.3 and
            ``keras.activations.leaky_relu`` to 0.2.
        seed: None, an int, or a ``keras.random.SeedGenerator``. An int or
            None gives the same values on every call; a SeedGenerator gives
            fresh values per call.

    Returns (when called with ``shape, dtype``):
        A backend tensor of that shape and floating dtype.

    Example:
        >>> layer = keras.layers.Dense(
        ...     10, activation=keras.layers.LeakyReLU(negative_slope=0.01),
        ...     kernel_initializer=LyapunovNormal(slope=0.01))

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4.
    """

    distribution = "normal"

    def _draw(self, seed, batch_shape, shape, dtype):
        stddev = self.scale(shape)  # validates the shape first
        return keras.random.normal(
            shape=(*batch_shape, *shape), mean=0.0, stddev=stddev, seed=seed, dtype=dtype)


@keras.saving.register_keras_serializable(package="keras_lyapunov")
class LyapunovOrthogonal(_LyapunovInitializer):
    """Orthogonal kernel whose Lyapunov exponent is exactly zero.

    A Haar-distributed orthogonal matrix (QR of a Gaussian matrix with the
    sign correction, exactly as ``keras.initializers.Orthogonal``) times
    ``eta_crit``: orthonormal columns if ``fan_in >= units``, orthonormal rows
    otherwise. ``eta_crit`` is exact for that shape and slope.

    Args:
        slope: negative slope of the leaky ReLU applied after the layer
            (nonzero; 0.01 by default).
        seed: None, an int, or a ``keras.random.SeedGenerator`` (Keras 3
            seed semantics, as ``LyapunovNormal``).

    Returns (when called with ``shape, dtype``):
        A backend tensor of that shape and floating dtype.

    Example:
        >>> layer = keras.layers.Dense(
        ...     10, kernel_initializer=LyapunovOrthogonal(slope=0.01))

    Reference: Kogler, Schwarz, Kittle, arXiv:2602.10949, Sec. 4.
    """

    distribution = "orthogonal"

    def _draw(self, seed, batch_shape, shape, dtype):
        fan_in, units = kernel_matrix_shape(shape)
        kernel = _haar_matrices(seed, batch_shape, fan_in, units,
                                self._critical_scale(fan_in, units), dtype)
        if tuple(shape) == (fan_in, units):  # a Dense kernel: no reshape (an eager op on JAX)
            return kernel
        return keras.ops.reshape(kernel, (*batch_shape, *shape))


def _haar_matrices(seed, batch_shape, fan_in, units, gain, dtype):
    """``gain`` times Haar orthogonal ``(fan_in, units)`` matrices, shape ``(*batch_shape, fan_in, units)``.

    Orthonormal columns if ``fan_in >= units``, orthonormal rows otherwise: the
    QR of a Gaussian matrix with the sign correction of Mezzadri (2007), as
    ``keras.initializers.Orthogonal`` draws it.
    """
    dtype = _floating_dtype(dtype)
    # QR is not implemented for 16-bit floats on every backend.
    work_dtype = "float32" if dtype in _HALF_PRECISION else dtype
    a = keras.random.normal(
        (*batch_shape, max(fan_in, units), min(fan_in, units)), dtype=work_dtype, seed=seed)
    q, r = keras.ops.qr(a)
    # Haar measure (Mezzadri 2007): fix the signs by the diagonal of R.
    signs = keras.ops.sign(keras.ops.diagonal(r, axis1=-2, axis2=-1))
    q = q * (keras.ops.expand_dims(signs, -2) if batch_shape else signs)
    if fan_in < units:
        q = keras.ops.swapaxes(q, -1, -2)
    kernel = gain * q
    return kernel if work_dtype == dtype else keras.ops.cast(kernel, dtype)


def delta_kernel_channels(shape):
    """``(in_channels, out_channels)`` of a convolution kernel that can be delta-orthogonal.

    Args:
        shape: ``(*spatial, in_channels, out_channels)``, every spatial size odd
            (a kernel has a centre tap only then); rank 2 is a Dense kernel.

    Returns:
        ``(in_channels, out_channels)`` as Python ints.

    Raises:
        ValueError: for rank < 2, a dimension that is not an integer >= 1, or
            an even spatial size.
    """
    kernel_matrix_shape(shape)  # validates rank and dimensions
    dims = tuple(int(d) for d in shape)
    even = [d for d in dims[:-2] if d % 2 == 0]
    if even:
        raise ValueError(
            "A delta-orthogonal kernel needs an odd size along every spatial axis "
            "(its only nonzero tap is the centre); received kernel shape "
            f"{tuple(shape)!r}, with even sizes {even}. Use an odd kernel_size, "
            "e.g. 3.")
    return dims[-2], dims[-1]


@keras.saving.register_keras_serializable(package="keras_lyapunov")
class LyapunovDeltaOrthogonal(_LyapunovInitializer):
    """Delta-orthogonal convolution kernel whose Lyapunov exponent is exactly zero.

    Every tap of the kernel is zero but the centre, which is a Haar orthogonal
    ``in_channels x out_channels`` matrix times ``eta_crit(out_channels,
    fan_in=in_channels)`` (the exact rectangular gain). A bias-free
    convolution with this kernel applies that one matrix at every position
    (strides and 'valid' or 'same' padding only choose which positions are
    kept), so a chain of such convolutions and leaky ReLUs is, at every
    position, the Dense chain whose exponent this gain makes zero
    (docs/theory.md section 7). For the kernels of ``Conv1D``, ``Conv2D`` and
    ``Conv3D`` (shape ``(*spatial, in_channels, out_channels)``, odd sizes);
    a rank-2 (Dense) kernel gets what ``LyapunovOrthogonal`` draws.

    Not for ``Conv*Transpose`` (their kernels are ``(*spatial, out, in)`` and a
    stride inserts zeros between positions) nor ``DepthwiseConv*`` and
    ``SeparableConv*`` depthwise kernels (one channel at a time, not a matrix):
    the initializer sees only a shape, so :func:`keras_lyapunov.check_slopes`
    and :func:`keras_lyapunov.signal_report` flag those layers.

    Args:
        slope: negative slope of the leaky ReLU applied after the layer
            (nonzero; 0.01 by default).
        seed: None, an int, or a ``keras.random.SeedGenerator`` (Keras 3 seed
            semantics, as ``LyapunovNormal``).

    Returns (when called with ``shape, dtype``):
        A backend tensor of that shape and floating dtype.

    Raises:
        ValueError: for an even spatial size or a rank below 2.

    Example:
        >>> layer = keras.layers.Conv2D(
        ...     16, 3, padding="same", use_bias=False,
        ...     kernel_initializer=LyapunovDeltaOrthogonal(slope=0.01))

    Reference: Xiao et al., "Dynamical Isometry and a Mean Field Theory of
    CNNs", ICML 2018 (delta-orthogonal kernels); Kogler, Schwarz, Kittle,
    arXiv:2602.10949, Sec. 4 (the gain).
    """

    distribution = "orthogonal"

    def scale(self, shape):
        """``eta_crit`` of the centre matrix ``(in_channels, out_channels)``.

        Args:
            shape: kernel shape ``(*spatial, in_channels, out_channels)``, odd sizes.

        Returns:
            The gain of the centre tap.
        """
        return self._critical_scale(*delta_kernel_channels(shape))

    def _draw(self, seed, batch_shape, shape, dtype):
        return _delta_kernels(seed, batch_shape, shape, self.scale(shape), dtype)


def _delta_kernels(seed, batch_shape, shape, gain, dtype):
    """Delta-orthogonal kernels of ``shape``: ``gain`` times Haar at the centre, zeros elsewhere."""
    in_channels, out_channels = delta_kernel_channels(shape)
    centre = _haar_matrices(seed, batch_shape, in_channels, out_channels, gain, dtype)
    spatial = tuple(int(d) for d in shape[:-2])
    if not spatial:
        return centre
    centre = keras.ops.reshape(
        centre, (*batch_shape, *(1,) * len(spatial), in_channels, out_channels))
    padding = ([(0, 0)] * len(batch_shape) + [((d - 1) // 2, (d - 1) // 2) for d in spatial]
               + [(0, 0), (0, 0)])
    return keras.ops.pad(centre, padding)


@keras.saving.register_keras_serializable(package="keras_lyapunov")
class DeltaOrthogonal(keras.initializers.Initializer):
    """Delta-orthogonal convolution kernel with a given gain (Xiao et al. 2018).

    Every tap zero but the centre, a Haar orthogonal ``in_channels x
    out_channels`` matrix times ``gain``: with the He gain ``sqrt(2 / (1 +
    slope**2))`` this is the delta-orthogonal initialization of Xiao et al.
    (their critical gain for ReLU-like networks in the wide limit), the
    baseline :class:`LyapunovDeltaOrthogonal` corrects for finite width. Keras 3
    has no delta-orthogonal initializer; JAX has ``jax.nn.initializers.delta_orthogonal``.

    Args:
        gain: a finite number > 0.
        seed: None, an int, or a ``keras.random.SeedGenerator`` (Keras 3 semantics).

    Returns (when called with ``shape, dtype``):
        A backend tensor; shapes as for :class:`LyapunovDeltaOrthogonal`.

    Example:
        >>> keras.layers.Conv2D(16, 3, padding="same", kernel_initializer=DeltaOrthogonal(1.41))

    Reference: Xiao et al., "Dynamical Isometry and a Mean Field Theory of CNNs", ICML 2018.
    """

    def __init__(self, gain=1.0, seed=None):
        if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not (
                math.isfinite(gain) and gain > 0):
            raise ValueError(f"`gain` must be a finite number > 0. Received: gain={gain!r}.")
        self.gain = float(gain)
        self._init_seed = seed
        self.seed = _instance_seed(seed)

    def __call__(self, shape, dtype=None):
        _floating_dtype(dtype)
        return _delta_kernels(self.seed, (), shape, self.gain, dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": keras.saving.serialize_keras_object(self._init_seed)}


LYAPUNOV_INITIALIZERS = (LyapunovNormal, LyapunovOrthogonal, LyapunovDeltaOrthogonal)


def _variance_scaling_std(initializer, shape):
    fan_in, fan_out = shape
    input_axes = getattr(initializer, "input_axes", None)
    output_axes = getattr(initializer, "output_axes", None)
    if input_axes is not None or output_axes is not None:
        fan_in = math.prod(shape[a] for a in input_axes or (0,))
        fan_out = math.prod(shape[a] for a in output_axes or (1,))
    fan = {"fan_in": fan_in, "fan_out": fan_out,
           "fan_avg": (fan_in + fan_out) / 2.0}[initializer.mode]
    return math.sqrt(initializer.scale / max(1.0, fan))


def kernel_law(initializer, shape):
    """``(distribution, scale)`` of a 2-D kernel when the theory is exact for it.

    Args:
        initializer: a Keras initializer.
        shape: the kernel shape ``(fan_in, units)``.

    Returns:
        ``("normal", std)`` for untruncated centred Gaussians (LyapunovNormal,
        RandomNormal with mean 0, VarianceScaling with
        ``distribution="untruncated_normal"``), ``("orthogonal", gain)`` for
        LyapunovOrthogonal, LyapunovDeltaOrthogonal (a rank-2 kernel) and
        Orthogonal, else None.
    """
    if isinstance(initializer, LYAPUNOV_INITIALIZERS):
        return initializer.distribution, float(initializer.scale(shape))
    if type(initializer) is keras.initializers.RandomNormal and initializer.mean == 0:
        return "normal", float(initializer.stddev)
    if (
        isinstance(initializer, keras.initializers.VarianceScaling)
        and initializer.distribution == "untruncated_normal"
    ):
        return "normal", _variance_scaling_std(initializer, shape)
    if type(initializer) is keras.initializers.Orthogonal:
        return "orthogonal", float(initializer.gain)
    return None
