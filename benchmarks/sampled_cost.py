"""The selection's cost as the user's clock sees it: fresh process, first fit, tracing included.

Side by side in one run, for each backend and training-set size: one fresh
Python process times ``model.fit(x, y, epochs=15, batch_size=256)`` of the
paper's image model (``experiments.methods.build_mlp``, compiled as the study
trains it), another the same fit with ``callbacks=[SampledLyapunov(k=10)]``
(the design card's call: fit's first batch, the default budget). Each process
builds, compiles and fits once, so every trace and compilation the fit needs is
inside the timed call; the order within a pair alternates. The first steps of a
pair give the selection's cost, with a 95% t-interval over the pairs.
Goal (issue 19): the selection at most 5% of the fit on 10,000 samples and at
most 2% on 60,000. With ``--budget-share S`` the callback is
``SampledLyapunov(k=10, budget_share=S)`` and the report
``sampled_cost_share<S>.md``: what a larger budget than the default costs.

Usage:
    python -m benchmarks.sampled_cost                      # all backends, 10k and 60k
    python -m benchmarks.sampled_cost --backends jax --sizes 10000 --repeats 1
    python -m benchmarks.sampled_cost --warm /tmp/previous .   # warm selections, two checkouts
    python -m benchmarks.sampled_cost --draws /tmp/previous .  # candidate draws, two checkouts
    python -m benchmarks.sampled_cost --backends jax --repeats 10  # a tighter interval
    python -m benchmarks.sampled_cost --sizes 10000 --budget-share 0.1  # a larger budget
    python -m benchmarks.sampled_cost --backends tensorflow --optimizer-build 4

``--warm ROOT ...`` times the selection alone instead, on a compiled train step: for each
checkout ROOT (e.g. a ``git worktree`` of an earlier commit beside ``.``), in alternating
fresh processes, the model is built and compiled and ``sample_initialization(model,
x[:256], y[:256], k=10)`` runs once to compile, then four times with budget 24 and three
times with budget 55 (the default budgets at 10,000 and 60,000 samples). It prints the
seconds per selection and writes no report. ``--draws ROOT ...`` times, the same way, the
build of the paper's model (its initializers' draws; its first and last layers are
Keras's ``Orthogonal``), then of the same Lyapunov stack with Keras's default first and
last layers, and in each process the first ten candidates' kernel draws after the build
(``CandidateDrawer`` and its ``values``, the selection's own drawer; any compilation of
the draws included), each and both together, 8 pairs per model. ``--optimizer-build PAIRS``
times, in alternating fresh processes, one fit step of the paper's model with its
optimizer unbuilt (fit builds it, on TensorFlow inside the trace of its train step) and
built just before ``fit`` (as the selection's trial builds it, to save its state); it
writes no report either.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys

import scipy.stats

from benchmarks import run_fresh, run_line, write_report

EPOCHS = 15
CHILD = r"""
import json, sys, time, warnings
import numpy as np, keras
from experiments.methods import build_mlp
from experiments.training import compile_classifier
from keras_lyapunov import SampledLyapunov
samples, sampled = int(sys.argv[1]), sys.argv[2] == "1"
share = None if sys.argv[3] == "default" else float(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.uniform(size=(samples, 784)).astype("float32")
y = rng.integers(0, 10, samples)
keras.utils.set_random_seed(0)
model = build_mlp(784, 10, 98, 10, method="lyapunov-orthogonal", seed=0)
compile_classifier(model, EPOCHS * -(-samples // 256))
first = {}
def wait(out):  # JAX dispatches asynchronously; TensorFlow and PyTorch return when done
    if keras.backend.backend() == "jax":
        import jax
        jax.block_until_ready(out)
    return out
class FirstStep(keras.callbacks.Callback):  # runs before the callback's wrapped step
    def on_train_begin(self, logs=None):  # times fit's train function's first call: it
        function = self.model.train_function  # compiles (also inside a selection's trial)
        def timed(*args):
            if "call" in first:
                return function(*args)
            start = time.perf_counter()
            out = wait(function(*args))
            first["call"] = time.perf_counter() - start
            return out
        self.model.train_function = timed
    def on_train_batch_begin(self, batch, logs=None):
        first.setdefault("start", time.perf_counter())
    def on_train_batch_end(self, batch, logs=None):
        first.setdefault("end", time.perf_counter())
selection = (SampledLyapunov(k=10, verbose=0) if share is None
             else SampledLyapunov(k=10, budget_share=share, verbose=0))
callbacks = [FirstStep()] + ([selection] if sampled else [])
warnings.simplefilter("ignore")
start = time.perf_counter()
model.fit(x, y, epochs=EPOCHS, batch_size=256, verbose=0, callbacks=callbacks)
seconds = time.perf_counter() - start
result = callbacks[1].result if sampled else None
print(json.dumps({"seconds": seconds, "first_step": first["end"] - first["start"],
                  "first_call": first["call"],
                  "spent": result.spent if result else 0,
                  "budget": result.budget if result else 0,
                  "selected": bool(result.selected) if result else None}))
""".replace("EPOCHS", str(EPOCHS))


WARM_CHILD = r"""
import json, time, warnings
import numpy as np
from experiments.methods import build_mlp
from experiments.training import compile_classifier
from keras_lyapunov import sample_initialization
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
x = rng.uniform(size=(256, 784)).astype("float32")
y = rng.integers(0, 10, 256)
model = build_mlp(784, 10, 98, 10, method="lyapunov-orthogonal", seed=0)
compile_classifier(model, 600)
times = {}
for budget in [24, 24, 24, 24, 24, 55, 55, 55]:  # the first call compiles the train step
    start = time.perf_counter()
    sample_initialization(model, x, y, k=10, seed=sum(map(len, times.values())),
                          budget=budget, verbose=0)
    times.setdefault(budget, []).append(round(time.perf_counter() - start, 3))
times[24] = times[24][1:]
print(json.dumps(times))
"""

DRAW_CHILD = r"""
import json, sys, time, warnings
import keras
from experiments.methods import build_mlp
from keras_lyapunov import LyapunovOrthogonal
from keras_lyapunov._candidates import CandidateDrawer, selected_kernels
warnings.simplefilter("ignore")
start = time.perf_counter()
if sys.argv[1] == "paper":  # Keras's Orthogonal in the first and last layers
    model = build_mlp(784, 10, 98, 10, method="lyapunov-orthogonal", seed=0)
else:  # the same stack with Keras's default (Glorot uniform) first and last layers
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)] + [
        layer for i in range(98) for layer in (
            keras.layers.Dense(10, kernel_initializer=LyapunovOrthogonal(seed=i)),
            keras.layers.LeakyReLU(negative_slope=0.01))] + [keras.layers.Dense(10)])
keras.tree.map_structure(keras.ops.convert_to_numpy, model.weights)  # waits for the device
built = time.perf_counter()
kernels = selected_kernels(model, "lyapunov")
try:  # as the selection made it from 2026-12-04 to 12-07 (compiled draws from 600 kernels)
    drawer = CandidateDrawer(kernels, candidates=10)
except TypeError:  # before, and since the model's build compiles the draw
    drawer = CandidateDrawer(kernels)
values = [drawer.values(seed) for seed in range(10)]
keras.tree.map_structure(keras.ops.convert_to_numpy, values)
done = time.perf_counter()
print(json.dumps({"model": sys.argv[1], "model build (s)": round(built - start, 3),
                  "ten candidates (s)": round(done - built, 3),
                  "both (s)": round(done - start, 3)}))
"""

OPTIMIZER_BUILD_CHILD = r"""
import json, sys, time, warnings
import numpy as np
from experiments.methods import build_mlp
from experiments.training import compile_classifier
warnings.simplefilter("ignore")
built_first = sys.argv[1] == "1"
rng = np.random.default_rng(0)
x = rng.uniform(size=(256, 784)).astype("float32")
y = rng.integers(0, 10, 256)
model = build_mlp(784, 10, 98, 10, method="lyapunov-orthogonal", seed=0)
compile_classifier(model, 600)
start = time.perf_counter()
if built_first:  # as the selection's trial does, to save the optimizer's state
    model.optimizer.build(model.trainable_variables)
built = time.perf_counter()
model.fit(x, y, epochs=1, batch_size=256, verbose=0)  # one step: trace, compile, run
print(json.dumps({"optimizer built first": built_first, "build (s)": round(built - start, 3),
                  "fit of one step (s)": round(time.perf_counter() - built, 3),
                  "both (s)": round(time.perf_counter() - start, 3)}))
"""


def optimizer_build(backend, pairs):
    """Fresh processes, alternating: one fit step of the paper's model with its optimizer
    unbuilt (fit builds it) and built just before fit (as the selection's trial builds it)."""
    for pair in range(pairs):
        for built_first in (False, True) if pair % 2 == 0 else (True, False):
            run = run_fresh(OPTIMIZER_BUILD_CHILD, [1 if built_first else 0], backend)
            print(f"pair {pair + 1}: {run}", flush=True)


def side_by_side(roots, backend, child, pairs, arguments=()):
    """Runs ``child`` for each checkout in ``roots``, in alternating fresh processes.

    Returns:
        ``{root: [the JSON each run printed last, ...]}``.
    """
    results = {}
    for pair in range(pairs):
        for root in roots:
            root = os.path.abspath(root)
            env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                       PYTHONPATH=root)
            out = subprocess.run([sys.executable, "-c", child, *arguments], env=env, cwd=root,
                                 capture_output=True, text=True, check=True)
            line = out.stdout.strip().splitlines()[-1]
            print(f"pair {pair + 1}, {root}: {line}", flush=True)
            results.setdefault(root, []).append(json.loads(line))
    return results


def print_paired_seconds(results):
    """For two checkouts: the mean paired difference (second - first) of every timing, with
    its 95% t-interval."""
    if len(results) != 2:
        return
    (first, before), (second, after) = results.items()
    print(f"{second} - {first}, mean of {len(before)} pairs [95% t-interval]:")
    for key, value in before[0].items():
        if isinstance(value, float):
            mean, low, high = paired_share([r[key] for r in before], [r[key] for r in after], 1)
            print(f"  {key}: {mean:+.3f} [{low:+.3f}, {high:+.3f}]", flush=True)


def one_fit(backend, samples, sampled, budget_share=None):
    return run_fresh(CHILD, [samples, 1 if sampled else 0,
                             "default" if budget_share is None else budget_share], backend)


def paired_share(without, with_, fit_seconds):
    """Mean of the paired differences ``with_ - without`` over ``fit_seconds``, and its 95%
    t-interval: ``(mean, low, high)`` as fractions of the fit (NaN bounds for one pair)."""
    differences = [b - a for a, b in zip(without, with_)]
    mean = statistics.fmean(differences)
    half = (scipy.stats.t.ppf(0.975, len(differences) - 1) * statistics.stdev(differences)
            / len(differences) ** 0.5 if len(differences) > 1 else math.nan)
    return mean / fit_seconds, (mean - half) / fit_seconds, (mean + half) / fit_seconds


def verdict(low, high, goal):
    """Whether an interval of the selection's share is within ``goal``, above it, or neither."""
    if high <= goal:
        return "met"
    if low > goal:
        return "NOT met"
    return "not resolved"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow", "torch"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 60_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--budget-share", type=float, default=None,
                        help="the callback's budget_share (default: the library's default)")
    checkouts = parser.add_mutually_exclusive_group()
    checkouts.add_argument("--warm", nargs="+", metavar="ROOT",
                           help="time warm selections of these checkouts instead")
    checkouts.add_argument("--draws", nargs="+", metavar="ROOT",
                           help="time the model's build and ten candidates' kernel draws of these "
                           "checkouts instead")
    checkouts.add_argument("--optimizer-build", type=int, metavar="PAIRS",
                           help="time fit's first step with the optimizer unbuilt and built "
                                "first, in PAIRS alternating pairs of fresh processes, instead")
    args = parser.parse_args(argv)
    if args.optimizer_build:
        for backend in args.backends:
            optimizer_build(backend, args.optimizer_build)
        return
    if args.warm:
        for backend in args.backends:
            side_by_side(args.warm, backend, WARM_CHILD, 2)
        return
    if args.draws:
        for backend in args.backends:
            for model in ("paper", "glorot-ends"):
                print_paired_seconds(side_by_side(args.draws, backend, DRAW_CHILD, 8, [model]))
        return
    budget_share = args.budget_share
    call = "SampledLyapunov(k=10" + (
        "" if budget_share is None else f", budget_share={budget_share:g}") + ")"
    lines = [
        f"# The selection's cold cost inside fit: fit(x, y, callbacks=[{call}])",
        "", run_line(f"python -m benchmarks.sampled_cost --backends {' '.join(args.backends)} "
                     f"--sizes {' '.join(map(str, args.sizes))} --repeats {args.repeats}"
                     + ("" if budget_share is None else f" --budget-share {budget_share:g}")),
        "",
        __doc__.split("\n\n")[1].replace("\n", " "), "",
        "| backend | samples | fit without (s) | fit with (s) | selection, whole fits | train "
        "steps spent / budget | runs without / with (s) | first steps without / with (s) "
        "| fit's first train call without / with, means (s) "
        "| selection by paired first steps [95%] | selection in process [95%] | goal: "
        "paired; in process |",
        "|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---|"]
    for backend in args.backends:
        for samples in args.sizes:
            plain, sampled, spent, first_plain, first_sampled = [], [], None, [], []
            in_process = []  # first step - fit's train function's first call (the compile)
            calls = {False: [], True: []}  # fit's train function's first call, without / with
            for repeat in range(args.repeats):
                for with_callback in (False, True) if repeat % 2 == 0 else (True, False):
                    run = one_fit(backend, samples, with_callback, budget_share)
                    (sampled if with_callback else plain).append(run["seconds"])
                    (first_sampled if with_callback else first_plain).append(run["first_step"])
                    calls[with_callback].append(run["first_call"])
                    if with_callback:
                        spent = f"{run['spent']} / {run['budget']}"
                        in_process.append(run["first_step"] - run["first_call"])
            without, with_ = statistics.median(plain), statistics.median(sampled)
            share, low, high = paired_share(first_plain, first_sampled, without)
            own, own_low, own_high = paired_share([0.0] * len(in_process), in_process, without)
            goal = 0.05 if samples <= 10_000 else 0.02
            runs = (", ".join(f"{t:.1f}" for t in plain) + " / "
                    + ", ".join(f"{t:.1f}" for t in sampled))
            firsts = (", ".join(f"{t:.2f}" for t in first_plain) + " / "
                      + ", ".join(f"{t:.2f}" for t in first_sampled))
            first_calls = " / ".join(f"{statistics.fmean(calls[c]):.2f}" for c in (False, True))
            line = (f"| {backend} | {samples:,} | {without:.1f} | {with_:.1f} | "
                    f"{100 * (with_ / without - 1):+.1f}% | {spent} | {runs} | {firsts} | "
                    f"{first_calls} | "
                    f"{100 * share:+.1f}% [{100 * low:+.1f}, {100 * high:+.1f}] | "
                    f"{100 * own:+.1f}% [{100 * own_low:+.1f}, {100 * own_high:+.1f}] | "
                    f"<= {100 * goal:.0f}%: {verdict(low, high, goal)}; "
                    f"{verdict(own_low, own_high, goal)} |")
            print(line, flush=True)
            lines.append(line)
    lines += ["", "Selection, whole fits: (fit with - fit without) / fit without, medians over "
              f"the repeats. Each fit is {EPOCHS} epochs, batch 256, of uniform 784-feature "
              "inputs with random labels (the cost does not depend on the values). The "
              "selection runs inside fit's first train step, and the rest of the fit is the "
              "same with and without it, so the first steps measure the same cost with less "
              "of the whole fit's run-to-run noise; the first step includes tracing and "
              "compiling fit's train step in both. Selection by paired first steps: the mean "
              "over the repeats of (first step with - first step without), the two runs of "
              "a repeat side by side (their order alternates), over the median fit without, "
              "with a 95% t-interval. Selection in process: in each run with the callback, its "
              "first step less the first call of fit's train function, which the selection's "
              "first trial makes (tracing, compiling and one step, the work fit's first step "
              "does without the callback), so the compile's run-to-run spread drops out; the "
              "mean over the runs over the median fit without, with a 95% t-interval. It "
              "assumes that first call costs what fit's own does: the column before it shows "
              "whether it does (on TensorFlow the selection builds the optimizer before that "
              "call, which fit's own first call does inside its trace; `--optimizer-build` "
              "times that alone), and where it does not, the paired estimate is the user's "
              "clock. Goal: met when the whole interval is within it, NOT met when the whole "
              "interval is above it, else not resolved (more repeats)."]
    write_report("sampled_cost.md" if budget_share is None
                 else f"sampled_cost_share{budget_share:g}.md", lines)


if __name__ == "__main__":
    main()
