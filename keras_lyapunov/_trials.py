"""Trials through the model's own train step: a candidate's loss after a few steps of ``fit``.

The ``"loss"`` score trains each candidate for a few steps on one batch and
reads its loss, as ``fit`` would: through ``model.train_function``, the
function ``fit`` itself makes and calls. So the trial has the model's compiled
loss (aliases, shapes, dtypes, several outputs), its regularization losses,
its optimizer (learning-rate schedule, weight decay, clipping, loss scaling),
its metrics and any custom ``train_step``, and it accepts exactly the batches
``fit`` accepts. The state before the trial is kept and given back exactly:

- JAX: the train function is a pure function of the state; the trial runs it on
  copies of the state and never writes a variable of the model (on a CPU device
  the start state is kept as host arrays, which each call copies in itself, far
  cheaper than copying device arrays: :func:`_host_start`). A screen (a
  trial of no steps: one train step, of which only the loss is read) of a model
  with Keras's own train step takes the optimizer buffers the trial before it
  left instead of fresh copies: that step logs the loss before the update, and
  the optimizer's state enters only the update.
- TensorFlow and PyTorch: the train function updates the variables in place;
  every variable of the model, its optimizer and its metrics is saved first
  and assigned back, bit for bit, before each candidate and on exit (also on
  an exception). For the same reason as on JAX, a screen of a model with
  Keras's own train step leaves the optimizer's state as the trial before it
  left it, and assigns back only the model's other variables (on the paper's
  98-layer stack under AdamW, 102 of 605 variables: about 2 ms on TensorFlow
  against 12-16 ms); a trial with steps, and the exit, assign back everything.

No second program is compiled where the backend can share ``fit``'s: on JAX the
jitted step for the batch's shapes is fit's own executable; on TensorFlow the
batch is fed as a one-batch distributed dataset with the element spec of
``fit``'s iterator, so the traced graph is fit's; PyTorch runs eagerly.

The budget (:func:`halving_plan`): every candidate is first screened by its
initial loss (one step each); the best survive to longer trials, successive
halving as in Jamieson & Talwalkar (2016), with the trial lengths the
trainability study chose.
"""

import contextlib
import math

import keras
import numpy as np

from keras_lyapunov import _validation


def _strategy_scope(model):
    """The model's tf.distribute strategy scope (TensorFlow), else a null context."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


class NoTrainingLoss(Exception):
    """The model's train step reports no ``"loss"`` (e.g. a custom ``train_step``)."""


def _dedupe(variables):
    seen, unique = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            unique.append(variable)
    return unique


def state_variables(model):
    """The variables a train step reads or writes: the model's, its optimizer's, its metrics'."""
    optimizer = getattr(model, "optimizer", None)
    return _dedupe([*model.trainable_variables, *model.non_trainable_variables,
                    *(optimizer.variables if optimizer is not None else ()),
                    *model.metrics_variables])


def _loss_of(logs):
    """The train step's ``"loss"``, as the backend returned it (not yet read)."""
    if not isinstance(logs, dict) or "loss" not in logs:
        raise NoTrainingLoss(
            "the model's train step reports no 'loss' (it returned "
            f"{sorted(logs) if isinstance(logs, dict) else type(logs).__name__})")
    return logs["loss"]


def read_losses(losses):
    """The losses of :meth:`TrainStepTrial.run` as floats, up to the first non-finite one.

    Reading is what waits for the device, so a selection reads a whole round of trials
    at once: meanwhile the next candidates are drawn (JAX dispatches asynchronously).
    """
    values = []
    for loss in losses:
        values.append(float(keras.ops.convert_to_numpy(loss)))
        if not math.isfinite(values[-1]):
            break
    return values


def _put_back(variable, value):
    """Assigns ``value``, saved from ``variable``, back to it (TensorFlow, PyTorch).

    On TensorFlow straight to the ``tf.Variable``, without reading it back: the saved
    value has its dtype and shape, and Keras's ``assign``, which converts, checks and
    reads, takes about 2.5 times as long (603 variables: 34 ms against 13 ms on a 2-core CPU).
    """
    if keras.backend.backend() == "tensorflow":
        variable.value.assign(value, read_value=False)
    else:
        variable.assign(value)


def _fresh_copies(values):
    """JAX: ``values`` as the jitted step may take them, which donates its state.

    Device arrays are copied into new buffers; host (NumPy) arrays are passed as they
    are: each call moves them into new buffers of its own, and they stay intact.
    """
    import jax

    values = list(values)
    on_device = [i for i, value in enumerate(values) if isinstance(value, jax.Array)]
    copies = jax.device_put([values[i] for i in on_device], may_alias=False)
    for i, copy in zip(on_device, copies):
        values[i] = copy
    return values


def _host_start(values):
    """JAX: the trial's start state, as host copies where the device is the host's memory.

    On a CPU device a jitted call takes a NumPy argument for about a microsecond,
    against about 25 us for copying a device array (a 2-core CPU), and a trial
    passes every variable's start value; elsewhere (a GPU, or arrays laid out
    across devices) the values stay on their devices and each call gets copies.
    """
    import jax

    def on_host_device(value):
        devices = value.sharding.device_set
        return len(devices) == 1 and next(iter(devices)).platform == "cpu"

    if all(isinstance(value, jax.Array) and on_host_device(value) for value in values):
        return [np.array(value, copy=True) for value in values]
    return list(values)


def tensorflow_feed(model, function, batch, element_spec):
    """Calls of the TensorFlow train function on ``batch`` that reuse fit's trace."""
    import tensorflow as tf

    try:
        rows = keras.tree.flatten(batch)[0].shape[0]
        for drop_remainder in (False, True):
            dataset = tf.data.Dataset.from_tensor_slices(batch).batch(
                rows, drop_remainder=drop_remainder)
            if element_spec is None or dataset.element_spec == element_spec:
                with _strategy_scope(model):
                    distributed = model.distribute_strategy.experimental_distribute_dataset(
                        dataset)
                return lambda: function(iter(distributed))
    except (AttributeError, TypeError, ValueError, RuntimeError):  # per-replica values, ...
        pass
    return lambda: function(iter([batch]))


class TrainStepTrial:
    """Trials of candidate weights through the model's own train function, on one batch.

    Every trial starts from the state the model had when the trial was made,
    but for the ``held`` variables, which start from the candidate's values.
    Use through :func:`restoring_trial`, which restores the state on exit.

    Args:
        model: a compiled, built Keras model.
        batch: one batch as the train step takes it (``(x, y)``, ``(x, y, sample_weight)``
            or ``x``), e.g. the batch ``fit`` is about to train on.
        function: the train function to call (default: ``model.train_function``,
            made as ``fit`` makes it).
        element_spec: TensorFlow only: the element spec of fit's iterator, or None.
        held: the trainable variables a candidate sets (e.g. the selected kernels).
    """

    def __init__(self, model, batch, function=None, element_spec=None, held=()):
        if function is None:  # outside fit: build what fit builds first, as train_on_batch does
            optimizer = getattr(model, "optimizer", None)
            if optimizer is not None and not optimizer.built or not model.compiled:
                model._symbolic_build(data_batch=batch)
            if getattr(model, "train_function", None) is None:
                model.make_train_function()
            function = model.train_function
        optimizer = model.optimizer
        if not optimizer.built:  # TensorFlow's fit builds it in its first step: build it now,
            optimizer.build(model.trainable_variables)  # so that its state is saved
        self.model = model
        self.held = list(held)
        self.steps_taken = 0  # train-step calls so far, all candidates together
        self._jax = keras.backend.backend() == "jax"
        self._metrics = list(model.metrics_variables)
        # Keras's own train step: a screen may start from the optimizer state another trial
        # left (JAX: its buffers; elsewhere: not assigned back; see the module).
        self._spare_optimizer = None
        self._screens_take_spares = type(model).train_step is keras.Model.train_step
        if self._jax:
            groups = [list(model.trainable_variables), list(model.non_trainable_variables),
                      list(model.optimizer.variables), self._metrics]
            self._start = [_host_start([v.value for v in group]) for group in groups]
            position = {id(v): i for i, v in enumerate(groups[0])}
            self._held_at = [position[id(v)] for v in self.held]  # held are trainable
            self._call = lambda state: function(state, iter([batch]))
        else:
            self._saved = [(v, keras.ops.copy(v.value)) for v in state_variables(model)]
            metric_ids = {id(v) for v in self._metrics}
            self._metric_values = [(v, value) for v, value in self._saved
                                   if id(v) in metric_ids]
            # What a trial of a candidate assigns back: not the held variables (the
            # candidate's values replace them); a screen not the optimizer's state either
            # (see above), nor the metrics (assigned back before every step): about a
            # sixth of the state of a deep stack under Adam.
            held_ids = {id(v) for v in self.held}
            self._candidate_saved = [(v, value) for v, value in self._saved
                                     if id(v) not in held_ids]
            skipped = metric_ids | {id(v) for v in optimizer.variables}
            self._screen_saved = [(v, value) for v, value in self._candidate_saved
                                  if id(v) not in skipped]
            if keras.backend.backend() == "tensorflow":
                self._call = tensorflow_feed(model, function, batch, element_spec)
            else:
                self._call = lambda: function([batch])

    def restore(self):
        """Assigns every saved value back (TensorFlow, PyTorch; on JAX nothing was written)."""
        if not self._jax:
            for variable, value in self._saved:
                _put_back(variable, value)

    def losses(self, steps, values=None):
        """The training losses of a candidate over ``steps`` trial steps.

        Args:
            steps: trial steps, an integer >= 0.
            values: the values the ``held`` variables start the trial from, in
                their order (None: their saved values). Every other variable
                starts from its saved value.

        Returns:
            A list of ``steps + 1`` floats: entry ``s`` is the loss on the batch
            after ``s`` steps (entry 0 the initial loss), as ``fit`` reports it;
            shorter when a loss is not finite (the list ends there).
        """
        return read_losses(self.run(steps, values))

    def run(self, steps, values=None):
        """Runs a trial as :meth:`losses` does; returns its losses unread.

        On TensorFlow and PyTorch the variables hold the trained candidate
        afterwards, until the next trial or :meth:`restore`; on JAX no variable
        of the model is ever written.

        Returns:
            ``steps + 1`` losses, for :func:`read_losses`. On JAX they are the
            step's unread arrays and every step runs, also after a non-finite
            loss (reading would wait for the device); elsewhere they are read
            at once (a custom step may report a variable) and the trial stops at
            the first non-finite one.
        """
        losses = []
        if self._jax:
            trainable = list(self._start[0])
            for position, value in zip(self._held_at, values or ()):
                trainable[position] = value
            trainable, non_trainable = (
                _fresh_copies(group) for group in (trainable, self._start[1]))
            optimizer, self._spare_optimizer = self._spare_optimizer, None
            if steps or optimizer is None:
                optimizer = _fresh_copies(self._start[2])
            for _ in range(steps + 1):
                logs, (trainable, non_trainable, optimizer, _) = self._call(
                    (trainable, non_trainable, optimizer, _fresh_copies(self._start[3])))
                self.steps_taken += 1
                losses.append(_loss_of(logs))
            if self._screens_take_spares:
                self._spare_optimizer = optimizer
            return losses
        if values and not steps and self._screens_take_spares:
            restored = self._screen_saved
        elif values:
            restored = self._candidate_saved
        else:
            restored = self._saved
        for variable, value in restored:
            _put_back(variable, value)
        for variable, value in zip(self.held, values or ()):
            variable.assign(value)
        for _ in range(steps + 1):
            for variable, value in self._metric_values:
                _put_back(variable, value)
            logs = self._call()
            self.steps_taken += 1
            losses.append(float(keras.ops.convert_to_numpy(_loss_of(logs))))
            if not math.isfinite(losses[-1]):
                break
        return losses


@contextlib.contextmanager
def restoring_trial(model, batch, function=None, element_spec=None, held=()):
    """Yields a :class:`TrainStepTrial`; every saved variable is restored on exit.

    The block runs in the model's tf.distribute strategy scope on TensorFlow, as ``fit``'s
    steps do.
    """
    with _strategy_scope(model):
        trial = TrainStepTrial(model, batch, function, element_spec, held)
        try:
            yield trial
        finally:
            trial.restore()


SHORTEST_TRIAL = 2  # one Adam step moves every weight by about the learning rate: no signal


def halving_plan(k, budget, trial_steps):
    """The rounds of a selection under a budget: ``[(candidates, steps), ...]``.

    Round 0 screens all ``k`` candidates by their initial loss (one train step
    each, ``steps = 0``). If the budget allows, a second round trains the best
    of them (at most half, rounded up) from their initializations for ``steps``
    trial steps each (``steps + 1`` train steps: the last one reads the loss),
    as many as the budget allows with ``steps >= 2``, then as long as it allows
    up to ``trial_steps``. The winner is the lowest loss of the last round.
    The trainability study chose this rule over full trials of every candidate
    and over three-round halving (``benchmarks/results/trainability.md``).

    Args:
        k: candidates, an integer >= 1.
        budget: train steps to spend, an integer >= k (one screen per candidate).
        trial_steps: the longest trial, an integer >= 0.

    Returns:
        A list of ``(candidates, steps)`` rounds; their cost ``sum(c * (s + 1))``
        is at most ``budget``.

    Example:
        >>> halving_plan(10, 24, 8)
        [(10, 0), (4, 2)]
    """
    left = budget - k
    survivors = min(math.ceil(k / 2), left // (SHORTEST_TRIAL + 1))
    if survivors < 2 or trial_steps < SHORTEST_TRIAL:
        return [(k, 0)]
    return [(k, 0), (survivors, min(trial_steps, left // survivors - 1))]


def plan_cost(plan):
    """The train steps a plan of :func:`halving_plan` spends."""
    return sum(candidates * (steps + 1) for candidates, steps in plan)


def check_budget(budget, k):
    """``budget`` validated: None, or an integer >= ``k`` (one screen per candidate)."""
    if budget is None:
        return None
    return _validation.integer(budget, "budget", minimum=k)
