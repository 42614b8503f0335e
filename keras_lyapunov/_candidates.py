"""Which kernels a selection re-draws, and how one candidate's kernels are drawn.

A candidate is nothing but a seed: :class:`CandidateDrawer` turns it into new
values for every selected kernel (named seed streams of
:mod:`keras_lyapunov._seeds`), on the backend's device, batched where kernels
share a law; :class:`KeptCandidates` keeps a selection's drawn values while it may
need them again. Used by the sampled selection and by the signal report's ensemble.
"""

import math
import re

import keras
import numpy as np

from keras_lyapunov import _seeds
from keras_lyapunov._seeds import derive_seed, kernel_group_seed, reseeded, takes_seed
from keras_lyapunov.initializers import LYAPUNOV_INITIALIZERS, jax_seed, kernel_law


def all_layers(model):
    """Every layer of the model, nested ones included, in model order."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=False, recursive=True))
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(all_layers(layer))
    return found


def is_frozen(layer, model):
    """Whether the layer must not be touched.

    Keras propagates ``trainable = False`` from a container to all its
    sublayers, so the layer's own flag and the model's are enough.
    """
    if not layer.trainable:
        return True
    return not model.trainable


# The weight matrices a selection re-draws: (variable attribute, initializer attribute)
# of Keras layers: Dense and convolutions, recurrent cells, Embedding, separable convs.
KERNEL_VARIABLES = (
    ("kernel", "kernel_initializer"),
    ("recurrent_kernel", "recurrent_initializer"),
    ("embeddings", "embeddings_initializer"),
    ("depthwise_kernel", "depthwise_initializer"),
    ("pointwise_kernel", "pointwise_initializer"),
)


def _layer_kernels(layer):
    """[(variable, initializer)] of the KERNEL_VARIABLES a layer has built."""
    found = []
    for variable_name, initializer_name in KERNEL_VARIABLES:
        initializer = getattr(layer, initializer_name, None)
        try:
            variable = getattr(layer, variable_name, None)
        except (AttributeError, ValueError):  # e.g. a property of an unbuilt layer
            variable = None
        if isinstance(variable, keras.Variable) and initializer is not None:
            found.append((variable, initializer))
    return found


def all_kernels(model):
    """[(variable, initializer)] of every layer's built KERNEL_VARIABLES, frozen ones included.

    Only kernel variables: their initializer attribute is what drew them, while
    e.g. an LSTM builds its bias with ones for the forget gate beside its
    ``bias_initializer``.
    """
    found, seen = [], set()
    for layer in all_layers(model):
        for variable, initializer in _layer_kernels(layer):
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append((variable, initializer))
    return found


def _with_sublayers(layer):
    flatten = getattr(layer, "_flatten_layers", None)
    return list(flatten(include_self=True, recursive=True)) if flatten else [layer]


def _requested_layers(model, layers):
    """The layers a ``layers=[...]`` list names: layer objects by identity, names uniquely."""
    everything = all_layers(model)
    requested = []
    for item in layers:
        if isinstance(item, keras.layers.Layer):
            if not any(layer is item for layer in everything):
                raise ValueError(
                    f"`layers` includes the layer {item.name!r}, which is not a layer of this "
                    "model (layer objects are matched by identity, not by name).")
            requested.append(item)
            continue
        named = [layer for layer in everything if layer.name == item]
        if not named:
            raise ValueError(
                f"`layers` names {item!r}, which no layer of this model is called. Layers "
                f"with kernels: {[l.name for l in everything if _layer_kernels(l)]}.")
        if len(named) > 1:
            raise ValueError(
                f"`layers` names {item!r}, which {len(named)} layers of this model are "
                "called (nested models); pass the layer object instead.")
        requested.append(named[0])
    return requested


def _owners(model, layers):
    """[(owner layer, the layers whose kernels it stands for)] that ``layers`` selects."""
    if isinstance(layers, tuple):
        return [(owner, _with_sublayers(owner)) for owner in _requested_layers(model, layers)]
    return [(layer, [layer]) for layer in all_layers(model)]


def _eligible(initializer, layers):
    if isinstance(initializer, LYAPUNOV_INITIALIZERS):
        return True
    return layers != "lyapunov" and takes_seed(initializer)


def selected_kernels(model, layers):
    """[(layer, kernel variable, initializer)] in model order, frozen layers excluded.

    Covers every variable of :data:`KERNEL_VARIABLES` (kernels, recurrent kernels,
    embeddings, depthwise and pointwise kernels): with ``layers="lyapunov"`` those
    built by a Lyapunov initializer, with ``"all"`` those built by any seeded
    initializer, with a list of layers those of the listed layers and their
    sublayers (a recurrent layer's cell).
    """
    explicit = isinstance(layers, tuple)
    chosen, seen = [], set()
    for owner, members in _owners(model, layers):
        pairs = [(layer, variable, initializer)
                 for layer in members for variable, initializer in _layer_kernels(layer)]
        if explicit and not pairs:
            raise ValueError(f"`layers` includes {owner.name!r}, which has no kernel to re-sample.")
        for layer, variable, initializer in pairs:
            if id(variable) in seen or is_frozen(layer, model) or not variable.trainable:
                continue  # trainable=False layers are never touched
            if not _eligible(initializer, layers):
                if explicit:
                    raise ValueError(
                        f"`layers` includes {layer.name!r}, whose initializer "
                        f"{type(initializer).__name__} takes no seed, so it cannot draw "
                        "new candidates.")
                continue
            seen.add(id(variable))
            chosen.append((layer, variable, initializer))
    return chosen


def unselected_seeded_variables(model, layers):
    """Variables that come from a seeded initializer the selection does not re-draw.

    Returns:
        ``["layer/attribute (Initializer)", ...]`` for every ``*_initializer``
        attribute of a selected, trainable layer that the selection would take
        (a Lyapunov initializer; with ``layers`` other than ``"lyapunov"`` any
        seeded one) but that is not one of :data:`KERNEL_VARIABLES`.
    """
    covered = {initializer_name for _, initializer_name in KERNEL_VARIABLES}
    found = []
    for layer in (layer for _, members in _owners(model, layers) for layer in members):
        if is_frozen(layer, model):
            continue
        for name, initializer in vars(layer).items():
            if (name.endswith("_initializer") and name not in covered
                    and isinstance(initializer, keras.initializers.Initializer)
                    and _eligible(initializer, layers)):
                found.append(f"{layer.name}/{name[:-len('_initializer')]} "
                             f"({type(initializer).__name__})")
    return found


def _itemsize(dtype):
    """Bytes per entry of a floating dtype, also of those NumPy does not name (bfloat16)."""
    try:
        return np.dtype(dtype).itemsize
    except TypeError:
        return int(re.match(r"b?float(\d+)", dtype).group(1)) // 8


def _unstack(batch):
    """``keras.ops.unstack(batch)``, on JAX with one compiled slicing op for every index
    (eagerly, each static slice would be compiled on its own, once per index)."""
    if keras.backend.backend() != "jax":
        return keras.ops.unstack(batch)
    import jax

    return [jax.lax.dynamic_index_in_dim(batch, jax.numpy.asarray(np.int32(i)), keepdims=False)
            for i in range(batch.shape[0])]


class CandidateDrawer:
    """Draws a candidate's kernels from its seed.

    Kernels of the same law, shape and dtype are drawn in one batched call: the
    Lyapunov initializers by class and slope (one QR for a whole stack of
    orthogonal kernels), untruncated centred Gaussians (RandomNormal,
    VarianceScaling "untruncated_normal") by standard deviation. Other seeded
    initializers are re-seeded one kernel at a time.

    On JAX every kernel is re-seeded one at a time: a batched draw would
    compile the draw and QR of every stack anew (about 0.6 s on a 2-core CPU
    for the paper's 98-layer stack), while a Lyapunov kernel's draw is one
    compiled function of its seed that the model's build already made
    (:meth:`~keras_lyapunov.initializers.LyapunovOrthogonal.compiled_draw`:
    about 25 us a kernel), with the values of
    ``reseeded(initializer, seed)(shape, dtype)``.

    Args:
        kernels: ``[(layer, variable, initializer)]`` as
            :func:`selected_kernels` returns them.
        batched: draw groups of equal law in one call (default: on every
            backend but JAX).
    """

    def __init__(self, kernels, batched=None):
        if batched is None:
            batched = keras.backend.backend() != "jax"
        self.kernels = [kernel for _, kernel, _ in kernels]
        self.nbytes = sum(math.prod(kernel.shape) * _itemsize(kernel.dtype)
                          for kernel in self.kernels)  # of one candidate's kernels
        self.groups = {}
        self.singles = []
        for _, kernel, initializer in kernels:
            shape, dtype = tuple(kernel.shape), kernel.dtype
            if not batched:
                self.singles.append((kernel, initializer))
                continue
            if len(shape) == 2:
                law = kernel_law(initializer, shape)
            elif type(initializer) is keras.initializers.RandomNormal and initializer.mean == 0:
                law = ("normal", float(initializer.stddev))  # e.g. a calibrated convolution
            else:
                law = None
            if isinstance(initializer, LYAPUNOV_INITIALIZERS):
                key = (type(initializer), initializer.slope, shape, dtype)
            elif law is not None and law[0] == "normal":
                key = ("normal", law[1], shape, dtype)
            else:
                self.singles.append((kernel, initializer))
                continue
            self.groups.setdefault(key, []).append(kernel)
        self._compiled_singles = [  # JAX: the Lyapunov kernels' compiled draws
            initializer.compiled_draw(tuple(kernel.shape), kernel.dtype)
            if isinstance(initializer, LYAPUNOV_INITIALIZERS) else None
            for kernel, initializer in self.singles]

    @staticmethod
    def _draw_group(key, count, seed):
        kind, parameter, shape, dtype = key
        if kind == "normal":
            return keras.random.normal((count, *shape), stddev=parameter, dtype=dtype, seed=seed)
        return kind(slope=parameter, seed=seed).draw_batch(count, shape, dtype=dtype)

    def placer(self, variables):
        """Where a candidate's kernels go among ``variables``: a function
        ``(values, batches, singles, factor=None) -> values``.

        ``values`` are the variables' values in order; the returned list has the
        drawn kernels (times ``factor``, if given) in place of the selected
        kernels' values, for a stateless call. Works inside compiled functions.
        """
        position = {id(v): i for i, v in enumerate(variables)}
        group_slots = [[position[id(k)] for k in kernels] for kernels in self.groups.values()]
        single_slots = [position[id(kernel)] for kernel, _ in self.singles]

        def place(values, batches, singles, factor=None):
            values = list(values)
            drawn = [(p, batch[j]) for slots, batch in zip(group_slots, batches)
                     for j, p in enumerate(slots)]
            for p, value in drawn + list(zip(single_slots, singles)):
                values[p] = value if factor is None else factor * value
            return values

        return place

    def draw(self, candidate_seed):
        """One candidate: ``(batches, singles)``.

        ``batches[g]`` stacks the new values of ``list(self.groups.values())[g]``
        along axis 0; ``singles[i]`` is the new value of ``self.singles[i][0]``.
        """
        batches = [
            self._draw_group(key, len(kernels),
                             kernel_group_seed(candidate_seed, key[0] == "normal", index))
            for index, (key, kernels) in enumerate(self.groups.items())
        ]
        singles = []
        for index, ((kernel, initializer), compiled) in enumerate(
                zip(self.singles, self._compiled_singles)):
            seed = derive_seed(candidate_seed, _seeds.SEEDED_KERNELS, index)
            if compiled is not None:
                singles.append(compiled(jax_seed(seed)))
            else:
                fresh = reseeded(initializer, seed)
                singles.append(fresh(tuple(kernel.shape), dtype=kernel.dtype))
        return batches, singles

    def values(self, candidate_seed):
        """One candidate's new kernel values, in the order of ``self.kernels``."""
        batches, singles = self.draw(candidate_seed)
        drawn = {id(kernel): value for kernels, batch in zip(self.groups.values(), batches)
                 for kernel, value in zip(kernels, _unstack(batch))}
        drawn.update((id(kernel), value) for (kernel, _), value in zip(self.singles, singles))
        return [drawn[id(kernel)] for kernel in self.kernels]

    def assign(self, values):
        """Puts a candidate's kernel values (as :meth:`values` returns them) in the kernels."""
        for kernel, value in zip(self.kernels, values):
            kernel.assign(value)


KEPT_CANDIDATE_BYTES = 2**28  # drawn candidates a selection keeps for reuse, at most


class KeptCandidates:
    """A selection's drawn candidates, kept for their later trials and for the winner.

    A candidate that survives the screen is trained again, and the winner is put
    in the kernels at the end: keeping the values it drew spares drawing them
    again. Candidates are kept while all kept ones together take at most
    ``max_bytes``; beyond that they are drawn again from their seeds, which
    gives the same values.

    Args:
        drawer: the selection's :class:`CandidateDrawer`.
        max_bytes: the bound on the kept values, in bytes.
    """

    def __init__(self, drawer, max_bytes=None):
        self.drawer = drawer
        self.max_bytes = KEPT_CANDIDATE_BYTES if max_bytes is None else max_bytes
        self.kept = {}

    def values(self, index, seed):
        """Candidate ``index``'s kernel values: kept ones, else drawn from ``seed`` (and kept
        while there is room)."""
        values = self.kept.get(index)
        if values is None:
            values = self.drawer.values(seed)
            if (len(self.kept) + 1) * self.drawer.nbytes <= self.max_bytes:
                self.kept[index] = values
        return values

    def assign(self, index, seed):
        """Puts candidate ``index`` (of ``seed``) in the kernels."""
        self.drawer.assign(self.values(index, seed))

    def retain(self, indices):
        """Forgets every kept candidate but those of ``indices``."""
        wanted = set(indices)
        self.kept = {i: values for i, values in self.kept.items() if i in wanted}
