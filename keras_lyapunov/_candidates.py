"""Which kernels a selection re-draws, and how one candidate's kernels are drawn.

A candidate is nothing but a seed: :class:`CandidateDrawer` turns it into new
values for every selected kernel (named seed streams of
:mod:`keras_lyapunov._seeds`), on the backend's device, batched where kernels
share a law. Used by the sampled selection and by the signal report's ensemble.
"""

import keras

from keras_lyapunov import _seeds
from keras_lyapunov._seeds import derive_seed
from keras_lyapunov.initializers import LYAPUNOV_INITIALIZERS, kernel_law


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


def takes_seed(initializer):
    """Whether the initializer has a seed, so that it can draw new candidates."""
    try:
        return "seed" in initializer.get_config()
    except (AttributeError, NotImplementedError, TypeError):
        return False


def is_frozen(layer, model):
    """Whether the layer must not be touched.

    Keras propagates ``trainable = False`` from a container to all its
    sublayers, so the layer's own flag and the model's are enough.
    """
    if not layer.trainable:
        return True
    return not model.trainable


def selected_kernels(model, layers):
    """[(layer, kernel variable, initializer)] in model order, frozen layers excluded."""
    chosen = []
    if isinstance(layers, tuple):
        wanted = [item.name if isinstance(item, keras.layers.Layer) else item for item in layers]
        known = {layer.name: layer for layer in all_layers(model)}
        missing = [name for name in wanted if name not in known]
        if missing:
            raise ValueError(
                f"`layers` names layers the model does not have: {missing}. "
                f"Layers with kernels: {[n for n, l in known.items() if hasattr(l, 'kernel')]}."
            )
        candidates = [known[name] for name in wanted]
    else:
        candidates = all_layers(model)
    for layer in candidates:
        kernel = getattr(layer, "kernel", None)
        initializer = getattr(layer, "kernel_initializer", None)
        if not isinstance(kernel, keras.Variable) or initializer is None:
            if isinstance(layers, tuple):
                raise ValueError(
                    f"`layers` includes {layer.name!r}, which has no kernel to re-sample."
                )
            continue
        if is_frozen(layer, model) or not kernel.trainable:
            continue  # trainable=False layers are never touched
        if layers == "lyapunov" and not isinstance(initializer, LYAPUNOV_INITIALIZERS):
            continue
        if not isinstance(initializer, LYAPUNOV_INITIALIZERS) and not takes_seed(initializer):
            if isinstance(layers, tuple):
                raise ValueError(
                    f"`layers` includes {layer.name!r}, whose kernel initializer "
                    f"{type(initializer).__name__} takes no seed, so it cannot draw "
                    "new candidates."
                )
            continue
        chosen.append((layer, kernel, initializer))
    return chosen


class CandidateDrawer:
    """Draws a candidate's kernels from its seed.

    Kernels of the same law, shape and dtype are drawn in one batched call: the
    Lyapunov initializers by class and slope (one QR for a whole stack of
    orthogonal kernels), untruncated centred Gaussians (RandomNormal,
    VarianceScaling "untruncated_normal") by standard deviation. Other seeded
    initializers are re-seeded one kernel at a time.
    """

    def __init__(self, kernels):
        self.groups = {}
        self.singles = []
        for _, kernel, initializer in kernels:
            shape, dtype = tuple(kernel.shape), kernel.dtype
            law = kernel_law(initializer, shape) if len(shape) == 2 else None
            if isinstance(initializer, LYAPUNOV_INITIALIZERS):
                key = (type(initializer), initializer.slope, shape, dtype)
            elif law is not None and law[0] == "normal":
                key = ("normal", law[1], shape, dtype)
            else:
                self.singles.append((kernel, initializer))
                continue
            self.groups.setdefault(key, []).append(kernel)

    @staticmethod
    def _draw_group(key, count, seed):
        kind, parameter, shape, dtype = key
        if kind == "normal":
            return keras.random.normal((count, *shape), stddev=parameter, dtype=dtype, seed=seed)
        return kind(slope=parameter, seed=seed).draw_batch(count, shape, dtype=dtype)

    def draw(self, candidate_seed):
        """One candidate: ``(batches, singles)``.

        ``batches[g]`` stacks the new values of ``list(self.groups.values())[g]``
        along axis 0; ``singles[i]`` is the new value of ``self.singles[i][0]``.
        """
        batches = [
            self._draw_group(key, len(kernels), derive_seed(
                candidate_seed,
                _seeds.GAUSSIAN_GROUPS if key[0] == "normal" else _seeds.LYAPUNOV_GROUPS,
                index))
            for index, (key, kernels) in enumerate(self.groups.items())
        ]
        singles = []
        for index, (kernel, initializer) in enumerate(self.singles):
            config = dict(initializer.get_config(),
                          seed=derive_seed(candidate_seed, _seeds.SEEDED_KERNELS, index))
            fresh = type(initializer).from_config(config)
            singles.append(fresh(tuple(kernel.shape), dtype=kernel.dtype))
        return batches, singles

    def assign(self, candidate_seed):
        """Draws the candidate of ``candidate_seed`` into the kernels' variables, in place."""
        batches, singles = self.draw(candidate_seed)
        for kernels, batch in zip(self.groups.values(), batches):
            for kernel, value in zip(kernels, keras.ops.unstack(batch)):
                kernel.assign(value)
        for (kernel, _), value in zip(self.singles, singles):
            kernel.assign(value)
