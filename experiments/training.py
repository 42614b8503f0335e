"""Training loops of the paper's experiments: regression on fresh samples, image classification."""

import math

import keras
import numpy as np

from experiments.methods import METHODS, build_mlp, prepare
from keras_lyapunov._seeds import EXPERIMENT_DATA, derive_seed

__all__ = ["run_regression", "train_classifier", "train_regression"]


def _steps_per_execution():
    """Several steps per compiled call (tiny models are dispatch-bound); torch allows 1."""
    return 1 if keras.backend.backend() == "torch" else 10


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
    keras.utils.set_random_seed(seed)
    model = build_mlp(x_eval.shape[1], width, hidden, y_eval.shape[1], method=method,
                      slope=slope, seed=seed)
    rng = np.random.default_rng(derive_seed(seed, EXPERIMENT_DATA))
    x_train, y_train = sample(rng, steps * batch_size)
    k = k or math.ceil(math.sqrt(hidden + 2))
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
    keras.utils.set_random_seed(seed)
    classes = int(max(np.max(y_train), np.max(y_eval))) + 1
    model = build_mlp(x_train.shape[1], width, hidden, classes, method=method, slope=slope,
                      seed=seed)
    k = k or math.ceil(math.sqrt(hidden + 2))
    callbacks = prepare(model, method, x_train[:256], y_train[:256], k=k, seed=seed)
    steps = epochs * math.ceil(len(x_train) / batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=weight_decay),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
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
