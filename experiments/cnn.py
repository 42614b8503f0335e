"""The deep narrow CNN study: signal through depth and seeds that train, per initialization.

Shared by ``benchmarks/cnn_study.py`` (the results file) and ``examples/demo.py --cnn``.
One compiled model trains every method and seed (``ClassifierTrainer``); each run's
initialization is made on a fresh model (LSUV or the sampled selection applied there)
and its weights loaded, so all runs see the same train step and the same data order per
seed.
"""

import math
import time
import warnings

import keras
import numpy as np

from experiments.methods import CNN_METHODS, build_cnn, default_k, initialize
from experiments.training import ClassifierTrainer, compile_classifier
from keras_lyapunov import calibrate_scale, measure_exponent, theory
from keras_lyapunov.sampling import DEFAULT_BUDGET_SHARE

__all__ = ["CNN_DEFAULT_METHODS", "calibrated_gaussian_std", "run_cnn_study"]

CNN_DEFAULT_METHODS = ("he", "orthogonal", "delta-orthogonal", "lyapunov-delta-orthogonal",
                       "calibrated-gaussian", "lsuv", "sampled-lyapunov-delta-orthogonal")


def calibrated_gaussian_std(grid, width, slope=0.01, seed=0):
    """The Gaussian standard deviation that makes a width->width 3x3 convolution's exponent 0.

    ``calibrate_scale`` of a bias-free convolution with untruncated He kernels, followed
    by the leaky ReLU, chained on ``(*grid, width)`` maps (exact: the layer is positively
    homogeneous). Returns ``(std, calibration)``.
    """
    convolution = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}[len(grid)]
    he_std = math.sqrt(theory.he_variance_factor(slope) / (3 ** len(grid) * width))
    layer = convolution(width, 3, padding="same", use_bias=False,
                        activation=keras.layers.LeakyReLU(negative_slope=slope),
                        kernel_initializer=keras.initializers.RandomNormal(stddev=he_std))
    calibration = calibrate_scale(layer, (*grid, width), steps=512, burn_in=32, seed=seed)
    return he_std * calibration.factor, calibration


def run_cnn_study(train, test, input_shape, *, depth, width, seeds, epochs, methods,
                  batch_size=128, learning_rate=1e-3, log=print):
    """Trains every method over ``seeds`` seeds; measures the signal at initialization.

    Returns:
        A dict with ``accuracy`` (method -> array seeds x epochs, percent), ``signal``
        (method -> the ExponentEstimate of its width->width convolution, followed by
        the leaky ReLU, on the input's grid), ``calibrated_std`` and
        ``calibration``, ``budget`` (the sampled method's train steps), ``seconds``.
    """
    start = time.perf_counter()
    classes = int(max(train[1].max(), test[1].max())) + 1
    grid = tuple(input_shape[:-1])
    std, calibration = calibrated_gaussian_std(grid, width)
    log(f"calibrated Gaussian: std {std:.4f} (He {std / calibration.factor:.4f} x "
        f"{calibration.factor:.4f}; He's measured exponent {calibration.before.exponent:+.4f} "
        f"+- {calibration.before.standard_error:.4f} per layer)")
    architecture = dict(input_shape=input_shape, width=width, depth=depth, classes=classes,
                        calibrated_std=std)
    signal = {}
    for method in methods:
        spec = CNN_METHODS[method]
        if spec.lsuv or spec.sampled:
            continue  # LSUV rescales one model on data; the sampled method is its unsampled one
        hidden = build_cnn(**architecture, method=method).layers[2 * min(1, depth - 1)]
        block = keras.Sequential([
            keras.Input((*grid, width)), type(hidden).from_config(hidden.get_config()),
            keras.layers.LeakyReLU(negative_slope=0.01)])
        signal[method] = measure_exponent(block, steps=256, burn_in=32, seed=0)
    trainer = ClassifierTrainer(build_cnn(**architecture, method="he"), train, test,
                                epochs=epochs, batch_size=batch_size,
                                learning_rate=learning_rate)
    steps = epochs * math.ceil(len(train[0]) / batch_size)
    k = default_k(depth)
    budget = max(k, round(DEFAULT_BUDGET_SHARE * steps))
    accuracy = {}
    for method in methods:
        runs = []
        for seed in range(seeds):
            model = build_cnn(**architecture, method=method, seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                initialize(model, CNN_METHODS[method], train[0][:batch_size],
                           train[1][:batch_size], k=k, seed=seed, budget=budget,
                           compile_model=lambda m: compile_classifier(
                               m, steps, learning_rate=learning_rate))
                runs.append(100 * np.array(trainer(model.get_weights(), order_seed=seed)))
            log(f"  {CNN_METHODS[method].label:24s} seed {seed}: {runs[-1][-1]:5.1f}%   "
                f"[{time.perf_counter() - start:5.0f} s]")
        accuracy[method] = np.array(runs)
    return {"accuracy": accuracy, "signal": signal, "calibrated_std": std,
            "calibration": calibration, "budget": budget, "k": k, "classes": classes,
            "seconds": time.perf_counter() - start}
