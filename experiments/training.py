"""Training loops of the paper's experiments: regression on fresh samples, image classification."""

import math

import keras
import numpy as np

from experiments.methods import METHODS, build_mlp, default_k, prepare
from experiments.seeds import EXPERIMENT_DATA, derive_seed, set_random_seed

__all__ = ["ClassifierTrainer", "compile_classifier", "run_regression", "run_task",
           "train_classifier", "train_regression"]


def _steps_per_execution(steps=10):
    """Several steps per compiled call (tiny models are dispatch-bound); torch allows 1."""
    return 1 if keras.backend.backend() == "torch" else steps


def train_regression(method, sample, x_eval, y_eval, *, width, hidden, steps, checkpoints,
                     slope=0.01, seed=0, batch_size=64, learning_rate=1e-3, k=None):
    """Trains one regression MLP with Adam on fresh samples; test MSE at checkpoints.

    Args:
        method: a ``METHODS`` key.
        sample: ``(rng, n) -> (x, y)`` drawing ``n`` training pairs.
        x_eval, y_eval: fixed evaluation set.
        width, hidden: the MLP (see :func:`build_mlp`).
        steps: training steps (batches of ``batch_size`` fresh samples).
        checkpoints: increasing steps <= ``steps`` at which the test loss is taken.
        slope, seed, batch_size, learning_rate: as named.
        k: candidates of the sampled methods (default ``ceil(sqrt(depth))``).

    Returns:
        A float array of the test MSE at each checkpoint (``inf`` once diverged).
    """
    set_random_seed(seed)
    model = build_mlp(x_eval.shape[1], width, hidden, y_eval.shape[1], method=method,
                      slope=slope, seed=seed)
    rng = np.random.default_rng(derive_seed(seed, EXPERIMENT_DATA))
    x_train, y_train = sample(rng, steps * batch_size)
    k = k or default_k(hidden + 2)
    # The paper's score keeps the candidate whose expected output norm is closest
    # to the target: here the mean target norm. The default scores by the loss.
    target_norm = float(np.mean(np.linalg.norm(y_train[:256], axis=1)))
    callbacks = prepare(model, method, x_train[:256], y_train[:256], k=k, seed=seed,
                        target_norm=target_norm)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse",
                  steps_per_execution=_steps_per_execution())
    losses, done = [], 0
    for step in checkpoints:
        if step > done:
            model.fit(x_train[done * batch_size:step * batch_size],
                      y_train[done * batch_size:step * batch_size], batch_size=batch_size,
                      epochs=1, shuffle=False, verbose=0, callbacks=callbacks)
            callbacks, done = [], step
        loss = float(model.evaluate(x_eval, y_eval, batch_size=len(x_eval), verbose=0))
        losses.append(loss if math.isfinite(loss) else math.inf)
    return np.array(losses)


def compile_classifier(model, steps, *, learning_rate=1e-3, weight_decay=0.004,
                       steps_per_execution=1):
    """Compiles the paper's image classifier: AdamW, cosine decay over ``steps``, logits.

    Args:
        model: the classifier (linear output: logits).
        steps: training steps the cosine decay spans (epochs x steps per epoch).
        learning_rate, weight_decay: AdamW's peak learning rate and weight decay.
        steps_per_execution: Keras's ``compile`` option.

    Returns:
        The model's optimizer.
    """
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model.optimizer


class ClassifierTrainer:
    """Trains given weights as :func:`train_classifier` does, reusing one compiled model.

    For studies that train many initializations of one architecture: the model
    and its train step are built and compiled once; each call loads the
    weights, zeroes the optimizer and trains under the data order of
    ``order_seed`` (the same for every call, the first included).

    Args:
        model: a built classifier of the architecture (its weights are replaced per call).
        train, evaluation: ``(x, y)`` training data and the set evaluated after each epoch.
        epochs, batch_size, learning_rate, weight_decay: as :func:`train_classifier`.
    """

    def __init__(self, model, train, evaluation, *, epochs, batch_size=256,
                 learning_rate=1e-3, weight_decay=0.004):
        self.model, self.train, self.evaluation = model, train, evaluation
        self.epochs, self.batch_size = epochs, batch_size
        steps_per_epoch = math.ceil(len(train[0]) / batch_size)
        self.optimizer = compile_classifier(
            model, epochs * steps_per_epoch, learning_rate=learning_rate,
            weight_decay=weight_decay, steps_per_execution=_steps_per_execution(steps_per_epoch))
        # Keras's first fit of a model draws one extra shuffle while it builds the
        # training state, so its data order differs from every later fit's with the
        # same seed. One batch built it here: every call trains under the same order.
        model.fit(train[0][:batch_size], train[1][:batch_size], batch_size=batch_size,
                  epochs=1, verbose=0)

    def __call__(self, weights, order_seed):
        """Evaluation accuracy after each epoch (0 where not finite), from ``weights``."""
        self.model.set_weights(weights)
        for variable in self.optimizer.variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))
        set_random_seed(order_seed)  # the data order
        history = self.model.fit(*self.train, batch_size=self.batch_size, epochs=self.epochs,
                                 verbose=0, validation_data=self.evaluation)
        accuracy = np.array(history.history["val_accuracy"], dtype=float)
        return np.where(np.isfinite(accuracy), accuracy, 0.0).round(5).tolist()


def train_classifier(method, train, evaluation, *, epochs, seed=0, learning_rate=1e-3,
                     batch_size=256, width=10, hidden=98, slope=0.01, k=None,
                     weight_decay=0.004):
    """Trains the paper's image MLP with AdamW and cosine decay; accuracy per epoch.

    Args:
        method: a ``METHODS`` key.
        train: ``(x, y)`` training images (flat, in [0, 1]) and integer labels.
        evaluation: ``(x, y)`` evaluated after every epoch.
        epochs: training epochs (the cosine decay spans all of them).
        seed, learning_rate, batch_size, width, hidden, slope, weight_decay: as named
            (the paper: batch 256, width 10, 98 hidden layers, slope 0.01).
        k: candidates of the sampled methods (default ``ceil(sqrt(depth))`` = 10).

    Returns:
        A float array of the evaluation accuracy after each epoch.
    """
    (x_train, y_train), (x_eval, y_eval) = train, evaluation
    set_random_seed(seed)
    classes = int(max(np.max(y_train), np.max(y_eval))) + 1
    model = build_mlp(x_train.shape[1], width, hidden, classes, method=method, slope=slope,
                      seed=seed)
    k = k or default_k(hidden + 2)
    callbacks = prepare(model, method, x_train[:256], y_train[:256], k=k, seed=seed)
    compile_classifier(model, epochs * math.ceil(len(x_train) / batch_size),
                       learning_rate=learning_rate, weight_decay=weight_decay)
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0,
                        validation_data=(x_eval, y_eval), callbacks=callbacks)
    accuracy = np.array(history.history["val_accuracy"], dtype=float)
    return np.where(np.isfinite(accuracy), accuracy, 0.0)


def run_regression(methods, sample, evaluation, *, seeds, steps, checkpoints, hidden,
                   learning_rate=1e-3, log=print):
    """:func:`train_regression` for each method over ``range(seeds)``.

    Args:
        methods: ``METHODS`` keys.
        sample, evaluation: as :func:`train_regression` (``evaluation = (x, y)``).
        seeds, steps, checkpoints, hidden, learning_rate: as named.
        log: called with a line per finished method (None: silent).

    Returns:
        dict method -> array ``(seeds, len(checkpoints))`` of test MSE.
    """
    results = {}
    for method in methods:
        results[method] = np.array([
            train_regression(method, sample, *evaluation, width=2, hidden=hidden, steps=steps,
                             checkpoints=checkpoints, seed=seed, learning_rate=learning_rate)
            for seed in range(seeds)])
        if log is not None:
            log(f"  {METHODS[method].label:20s} median final MSE "
                f"{np.median(results[method][:, -1]):.3f}")
    return results


def run_task(task, methods, *, seeds, steps, learning_rate=1e-3, hidden=None, log=print):
    """:func:`run_regression` on an ``experiments.tasks.RegressionTask``.

    Args:
        task: the task (its samples, evaluation set and checkpoints).
        methods, seeds, steps, learning_rate, log: as :func:`run_regression`.
        hidden: hidden layers (default: the task's, as in the paper).

    Returns:
        ``(checkpoints, results)``: the steps measured, and dict method -> array
        ``(seeds, len(checkpoints))`` of test MSE.
    """
    checkpoints = task.checkpoints_for(steps)
    return checkpoints, run_regression(
        methods, task.sample, task.evaluation_set(), seeds=seeds, steps=steps,
        checkpoints=checkpoints, hidden=hidden or task.hidden, learning_rate=learning_rate,
        log=log)
