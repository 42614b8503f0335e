"""The model's forward pass, stateless and compiled once for the current backend.

The selection scores many candidates and the signal report measures many
re-initializations, each with one forward pass of the same model on the same
probes. Both go through :func:`compiled_forward` (or :func:`compile_function`
around :func:`stateless_outputs`): ``model.stateless_call`` with explicit
variable values, inside ``tf.function`` / ``jax.jit`` / ``torch.no_grad``, so
a model is traced once and nothing but the result crosses to the host.
"""

import inspect

import keras


def variable_values(model):
    """``(trainable, non_trainable)``: the current values of the model's variables."""
    return ([v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables])


def read_tensor(value):
    """``value`` as a tensor of its current value: a variable is read, not handed on.

    A compiled function shared across models must take tensors: TensorFlow captures
    a variable it is given (a tf.distribute ``MirroredVariable`` is one, and
    ``keras.ops.convert_to_tensor`` passes it through) on the first trace. JAX and
    torch values are already tensors, and are returned without a copy.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(value)
    return keras.ops.convert_to_tensor(value)


def _inference_kwargs(model):
    # stateless_call hands its keywords to call() as they are (unlike __call__,
    # which drops `training` when call() does not take it).
    parameters = inspect.signature(model.call).parameters
    takes_training = "training" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return {"training": False} if takes_training else {}


def stateless_outputs(model, trainable, non_trainable, x):
    """The model's inference outputs on ``x`` with the given variable values.

    Args:
        model: a built Keras model.
        trainable, non_trainable: values in the order of
            ``model.trainable_variables`` / ``model.non_trainable_variables``.
        x: the input batch.

    Returns:
        The outputs (a tensor or a structure of tensors); variables are not changed.
    """
    outputs, _ = model.stateless_call(trainable, non_trainable, x, **_inference_kwargs(model))
    return outputs


def compile_function(function, *, exact_shapes=False, differentiates=False):
    """``function`` compiled for the backend: tf.function, jax.jit, or torch without autograd.

    Args:
        function: a function of tensors (and lists of tensors).
        exact_shapes: trace every new input shape anew on TensorFlow (for functions
            whose ops need static shapes), instead of relaxing shapes to reduce tracing.
        differentiates: ``function`` takes gradients inside (through
            :func:`value_and_gradients`), so torch keeps autograd on.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=not exact_shapes)
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "torch" and not differentiates:
        import torch

        def without_gradients(*args):
            with torch.no_grad():
                return function(*args)

        return without_gradients
    return function


def value_and_gradients(function):
    """``(weights, *args) -> (function(weights, *args), gradients)`` on any backend.

    Args:
        function: ``(weights, *args) -> scalar tensor``, ``weights`` a list of tensors.

    Returns:
        The value and the list of its gradients with respect to ``weights``
        (zeros for weights it does not depend on). Use it inside a function
        compiled with ``compile_function(..., differentiates=True)``.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.value_and_grad(function)
    if backend == "tensorflow":
        import tensorflow as tf

        def tensorflow_gradients(weights, *args):
            with tf.GradientTape() as tape:
                tape.watch(weights)
                value = function(weights, *args)
            return value, tape.gradient(
                value, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        return tensorflow_gradients
    if backend == "torch":
        import torch

        def torch_gradients(weights, *args):
            weights = [w.detach().requires_grad_(True) for w in weights]
            with torch.enable_grad():
                value = function(weights, *args)
                gradients = torch.autograd.grad(value, weights, allow_unused=True)
            return value.detach(), [torch.zeros_like(w) if g is None else g
                                    for w, g in zip(weights, gradients)]

        return torch_gradients
    raise NotImplementedError(f"gradients on the {backend!r} backend")


def compiled_forward(model, reduce):
    """One compiled ``(trainable, non_trainable, x, *args) -> reduce(outputs, *args)``.

    Args:
        model: a built Keras model.
        reduce: ``(outputs, *args) -> tensor``, e.g. a score of the outputs.

    Returns:
        The compiled function; call it with :func:`variable_values` of the model.

    Example:
        >>> forward = compiled_forward(model, lambda y: keras.ops.mean(y))
        >>> forward(*variable_values(model), x)
    """
    def forward(trainable, non_trainable, x, *args):
        return reduce(stateless_outputs(model, trainable, non_trainable, x), *args)

    return compile_function(forward)
