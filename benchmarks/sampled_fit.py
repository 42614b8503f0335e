"""The design card's call, measured: ``fit(x, y, callbacks=[SampledLyapunov(k=10)])``.

For each fresh seed, the paper's image model (``experiments.methods.build_mlp``:
Dense input->10, 98 LyapunovOrthogonal(0.01) Dense 10->10, Dense 10->10
logits) is compiled as the study trains it (AdamW 1e-3, weight decay 0.004,
cosine decay, batch 256) and trained three ways in the same run:

- *unsampled*: ``fit`` for ``--epochs`` epochs;
- *sampled*: the same ``fit`` with ``callbacks=[SampledLyapunov(k=10)]``, no other
  argument (fit's own first batch, the default budget);
- *equal compute*: unsampled, then as many extra steps as the selection spent
  (the cosine decay spanning both).

A seed *trains* when its final test accuracy is at least chance + 10 points.
Writes ``benchmarks/results/sampled_fit_<dataset>.md`` (Wilson 95% intervals);
with ``--budget-share S`` (a larger budget than the default, say), the sampled arm
is ``SampledLyapunov(k=10, budget_share=S)`` and the file
``sampled_fit_<dataset>_share<S>.md``.

Usage (any backend; about 25 minutes for 40 seeds on 2 cores with JAX):
    python -m benchmarks.sampled_fit --data-dir /usr/share/datasets/fashion-mnist --seeds 40
    python -m benchmarks.sampled_fit --dataset mnist1d --seeds 20
    python -m benchmarks.sampled_fit --data-dir /usr/share/datasets/fashion-mnist --budget-share 0.1
"""

import datetime
import math
import os
import platform
import time
import warnings

import keras
import numpy as np

from benchmarks import write_report
from experiments.data import load_study_data, study_data_parser
from experiments.methods import build_mlp
from experiments.proportions import sign_test, wilson
from experiments.seeds import set_random_seed
from experiments.training import compile_classifier
from keras_lyapunov import SampledLyapunov
from keras_lyapunov.sampling import DEFAULT_BUDGET_SHARE

BATCH = 256
FIRST_SEED = 1000  # fresh: the trainability study used seeds 0-199


def final_accuracy(model, test):
    accuracy = model.evaluate(*test, batch_size=1024, verbose=0, return_dict=True)["accuracy"]
    return accuracy if math.isfinite(accuracy) else 0.0


def run_seed(seed, train, test, classes, epochs, budget_share=DEFAULT_BUDGET_SHARE):
    """(unsampled, sampled, equal-compute) final accuracies and the selection's result."""
    steps = epochs * math.ceil(len(train[0]) / BATCH)
    out = {}
    for arm in ("unsampled", "sampled"):
        set_random_seed(seed)
        model = build_mlp(train[0].shape[1], 10, 98, classes, method="lyapunov-orthogonal",
                          seed=seed)
        compile_classifier(model, steps)
        callbacks = []
        if arm == "sampled":
            callbacks = [SampledLyapunov(k=10) if budget_share == DEFAULT_BUDGET_SHARE
                         else SampledLyapunov(k=10, budget_share=budget_share)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model.fit(*train, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=callbacks)
            out[f"{arm}_seconds"] = time.perf_counter() - start
        out[arm] = final_accuracy(model, test)
        if callbacks:
            out["result"] = callbacks[0].result
    spent = out["result"].spent
    set_random_seed(seed)
    model = build_mlp(train[0].shape[1], 10, 98, classes, method="lyapunov-orthogonal",
                          seed=seed)
    compile_classifier(model, steps + spent)
    fit_with_extra_steps(model, train, epochs, spent)
    out["equal compute"] = final_accuracy(model, test)
    return out


def fit_with_extra_steps(model, train, epochs, extra_steps):
    """``fit`` for ``epochs`` epochs of batch ``BATCH``, then ``extra_steps`` more train steps
    (the arrays repeated as often as that takes: it may be more than an epoch's batches)."""
    model.fit(*train, batch_size=BATCH, epochs=epochs, verbose=0)
    if extra_steps:
        repeats = math.ceil(extra_steps * BATCH / len(train[0]))
        repeated = [np.concatenate([part] * repeats) for part in train]
        model.fit(*repeated, batch_size=BATCH, epochs=1, steps_per_epoch=extra_steps, verbose=0)


def main(argv=None):
    parser = study_data_parser(__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--budget-share", type=float, default=DEFAULT_BUDGET_SHARE,
                        help="the sampled arm's budget_share (default: the library's)")
    args = parser.parse_args(argv)
    default = args.budget_share == DEFAULT_BUDGET_SHARE
    call = "SampledLyapunov(k=10)" if default else (
        f"SampledLyapunov(k=10, budget_share={args.budget_share:g})")
    train, test, _, _ = load_study_data(args.dataset, args.data_dir, args.train_size)
    classes = int(train[1].max()) + 1
    chance = 1.0 / classes
    rows, start = [], time.time()
    for seed in range(FIRST_SEED, FIRST_SEED + args.seeds):
        rows.append(run_seed(seed, train, test, classes, args.epochs, args.budget_share))
        r = rows[-1]
        print(f"seed {seed}: unsampled {r['unsampled']:.3f} sampled {r['sampled']:.3f} "
              f"equal {r['equal compute']:.3f} spent {r['result'].spent} "
              f"[{time.time() - start:.0f} s]", flush=True)
    arms = ("unsampled", "equal compute", "sampled")
    command = (f"python -m benchmarks.sampled_fit --dataset {args.dataset}"
               + (f" --data-dir {args.data_dir}" if args.data_dir else "")
               + f" --seeds {args.seeds}"
               + ("" if default else f" --budget-share {args.budget_share:g}"))
    spent = [r["result"].spent for r in rows]
    budget = rows[0]["result"].budget
    overhead = [r["sampled_seconds"] / r["unsampled_seconds"] - 1 for r in rows]
    lines = [
        f"# {'The design card' if default else 'A larger budget'}'s call on {args.dataset}: "
        f"fit(x, y, callbacks=[{call}])",
        "", f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, Keras "
        f"{keras.__version__} ({keras.backend.backend()}). Command: `{command}`.", "",
        f"The paper's image model (98 LyapunovOrthogonal(0.01) Dense 10->10 layers), "
        f"{len(train[0]):,} training samples, {args.epochs} epochs of AdamW 1e-3 (cosine, "
        f"weight decay 0.004), batch {BATCH}, seeds {FIRST_SEED}-{FIRST_SEED + args.seeds - 1} "
        "(fresh: not the trainability study's). *Trains*: final test accuracy >= "
        f"{100 * (chance + 0.1):.0f}% (chance + 10 points). Equal compute: unsampled plus "
        f"the selection's train steps (median {int(np.median(spent))} of a budget of "
        f"{budget}) as extra steps.", "",
        "| arm | seeds that train | [95% Wilson] | median test accuracy |",
        "|---|---:|---:|---:|"]
    finals = {arm: np.array([r[arm] for r in rows]) for arm in arms}
    trains = {arm: final >= chance + 0.1 for arm, final in finals.items()}
    for arm, final in finals.items():
        trained = int(trains[arm].sum())
        low, high = wilson(trained, len(final))
        lines.append(f"| {arm} | {trained}/{len(final)} ({100 * trained / len(final):.0f}%) | "
                     f"[{100 * low:.0f}, {100 * high:.0f}] | {100 * np.median(final):.1f}% |")
    lines.append("")
    for baseline in arms[:2]:
        wins = int(np.sum(trains["sampled"] & ~trains[baseline]))
        losses = int(np.sum(~trains["sampled"] & trains[baseline]))
        lines.append(f"Paired by seed against {baseline}: sampled trains {wins} seeds it does "
                     f"not, and loses {losses} (two-sided sign test p = "
                     f"{sign_test(wins, losses):.2g}).")
    lines += ["", f"Wall-clock cost of the callback inside these fits (warm process, each fit "
              f"compiles its own model): median {100 * np.median(overhead):+.1f}% of the fit "
              "(benchmarks/results/sampled_cost.md measures the cold cost side by side).",
              "", "Per seed, final test accuracy:", "",
              "| seed | unsampled | equal compute | sampled | train steps spent |",
              "|---:|---:|---:|---:|---:|"]
    lines += [f"| {FIRST_SEED + i} | {100 * r['unsampled']:.1f}% | {100 * r['equal compute']:.1f}% "
              f"| {100 * r['sampled']:.1f}% | {r['result'].spent} |" for i, r in enumerate(rows)]
    suffix = "" if default else f"_share{args.budget_share:g}"
    write_report(f"sampled_fit_{args.dataset}{suffix}.md", lines)


if __name__ == "__main__":
    keras.config.disable_interactive_logging()
    main()
