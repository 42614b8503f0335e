"""Sampled selection cost, measured side by side in one run.

On the paper's image model (``experiments.methods.build_mlp``: Dense 784->10, 98
Dense 10->10, Dense 10->10 logits, LeakyReLU 0.01; LyapunovOrthogonal hidden
layers, scaled orthogonal first and output layers, int seeds as most users
leave them) it measures, through the public API, on the current Keras backend:

- the lower bound k x (one re-initialization of the selected kernels + one
  forward pass of the 256 probes), both measured in isolation (medians);
- the selection time, "process-cold" (the first selection in a fresh process:
  the backend also compiles each new op and shape once, like Keras's first
  epoch does), "model-cold" (a fresh model once those ops are compiled: what
  remains is tracing the model's forward, as inside fit) and "warm" (the same
  model again: the traced forward is reused), and their ratio to the bound
  (goal: at most 1.5x);
- one training epoch (60,000 samples, batch 256, AdamW), the first (which
  includes Keras tracing its train step) and a steady one; the selection as a
  fraction of an epoch (goal: under 10% for k = 10);
- (the loss score, the default in fit, trains through fit's own train step:
  its cost as the user meets it is ``benchmarks/sampled_cost.py``'s);
- how the cost grows with k and with depth.

Usage:
    KERAS_BACKEND=jax python -m benchmarks.selection [--quick]
"""

import argparse
import os
import platform
import statistics
import warnings

import keras
import numpy as np

from experiments.methods import build_mlp
from experiments.timing import timed
from experiments.training import compile_classifier
from keras_lyapunov import LyapunovOrthogonal, _scores, sample_initialization

SLOPE = 0.01


def paper_model(depth=100, width=10, inputs=784):
    """The paper's image model with ``depth`` Dense layers (``experiments.methods.build_mlp``)."""
    return build_mlp(inputs, width, depth - 2, 10, method="lyapunov-orthogonal", seed=0)


def probes():
    return np.random.default_rng(0).uniform(size=(256, 784)).astype("float32")


def lyapunov_kernels(model):
    return [layer.kernel for layer in model.layers
            if isinstance(getattr(layer, "kernel_initializer", None), LyapunovOrthogonal)]


def lower_bound_parts(model, repeats):
    """Median re-initialization and forward times (the forward already traced).

    Re-initialization: one batched draw of the stacked Lyapunov kernels
    (``LyapunovOrthogonal.draw_batch``, one QR for the stack) assigned into the
    variables, the least any re-initialization does; forward: the selection's
    own compiled statistic (``keras_lyapunov._scores.scorer``).
    """
    kernels = lyapunov_kernels(model)
    shape = tuple(kernels[0].shape)
    originals = [keras.ops.copy(kernel.value) for kernel in kernels]

    def reinitialize(seed):
        batch = LyapunovOrthogonal(SLOPE, seed=seed).draw_batch(len(kernels), shape)
        for kernel, value in zip(kernels, keras.ops.unstack(batch)):
            kernel.assign(value)

    with _scores.scorer(model, "scale-free", keras.ops.convert_to_tensor(probes())) as scoring:
        def forward():
            return keras.ops.convert_to_numpy(scoring.statistic())

        forward()
        reinit = statistics.median(timed(lambda i=i: reinitialize(i)) for i in range(repeats))
        fwd = statistics.median(timed(forward) for _ in range(repeats))
    for kernel, value in zip(kernels, originals):  # bit for bit: the selection's record holds
        kernel.assign(value)
    return reinit, fwd


def select(model, k):
    results = []
    seconds = timed(lambda: results.append(
        sample_initialization(model, probes(), k=k, seed=0, verbose=0)))
    # A skipped selection (kernels of unknown origin) would time nothing: refuse it.
    assert results[0].selected, results[0].skipped
    return seconds


def epoch_times(model, samples):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(samples, 784)).astype("float32")
    y = rng.integers(0, 10, samples)
    compile_classifier(model, 2 * int(np.ceil(samples / 256)))
    return [timed(lambda: model.fit(x, y, batch_size=256, epochs=1, verbose=0))
            for _ in range(2)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    warnings.filterwarnings("ignore", category=UserWarning)
    backend = keras.backend.backend()
    print(f"# Sampled selection benchmark: backend={backend}, keras {keras.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    k = 10
    repeats = 5 if quick else 15

    process_cold = select(paper_model(), k)
    model = paper_model()
    cold = select(model, k)
    warm = statistics.median(select(model, k) for _ in range(2 if quick else 5))
    reinit, forward = lower_bound_parts(model, repeats)
    bound = k * (reinit + forward)
    count = len(lyapunov_kernels(model))
    print(f"\n## Paper model (100 Dense layers, {count} re-sampled), k = 10, 256 probes")
    print(f"re-initialization of {count} kernels: {1e3 * reinit:.1f} ms; forward: "
          f"{1e3 * forward:.1f} ms; lower bound k x (both): {1e3 * bound:.0f} ms")
    print(f"selection process-cold (first in this process): {1e3 * process_cold:.0f} ms")
    print(f"selection model-cold (fresh model, includes tracing the forward): "
          f"{1e3 * cold:.0f} ms = {cold / bound:.2f}x the bound")
    print(f"selection warm (traced forward reused): {1e3 * warm:.0f} ms = "
          f"{warm / bound:.2f}x the bound (goal <= 1.5x)")

    samples = 12_800 if quick else 60_000
    first, steady = epoch_times(paper_model(), samples)
    print(f"\none epoch ({samples} samples, batch 256, AdamW): first {first:.2f} s "
          f"(includes tracing the train step), steady {steady:.2f} s")
    print(f"selection / epoch (goal < 10%): process-cold / first epoch "
          f"{100 * process_cold / first:.1f}%, model-cold / steady epoch "
          f"{100 * cold / steady:.1f}%, warm / steady epoch {100 * warm / steady:.1f}%")

    print("\n## Growth with k (paper model, warm)")
    print("| k | selection (ms) | bound (ms) | ratio |\n|---:|---:|---:|---:|")
    for kk in (1, 2, 5, 10, 20) if quick else (1, 2, 5, 10, 20, 40):
        t = statistics.median(select(model, kk) for _ in range(3))
        print(f"| {kk} | {1e3 * t:.0f} | {1e3 * kk * (reinit + forward):.0f} | "
              f"{t / (kk * (reinit + forward)):.2f} |")

    print("\n## Growth with depth (k = 10)")
    print("| depth | model-cold (ms) | warm (ms) | bound (ms) | warm / bound |\n"
          "|---:|---:|---:|---:|---:|")
    for depth in (10, 25, 50, 100) if quick else (10, 25, 50, 100, 200):
        m = paper_model(depth)
        cold_d = select(m, k)
        warm_d = statistics.median(select(m, k) for _ in range(3))
        r, f = lower_bound_parts(m, repeats)
        print(f"| {depth} | {1e3 * cold_d:.0f} | {1e3 * warm_d:.0f} | "
              f"{1e3 * k * (r + f):.0f} | {warm_d / (k * (r + f)):.2f} |")


if __name__ == "__main__":
    main()
