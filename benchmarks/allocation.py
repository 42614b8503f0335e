"""How to spend the selection's budget: the library's plan against the alternatives.

Every recorded initialization of the trainability study
(``benchmarks/results/trainability/<dataset>.jsonl``: its outcome, trained
under two data orders) has its training losses over 40 steps of the
selection's own trial (``<dataset>_trials.jsonl``, written by ``python -m
benchmarks.trainability --trials``: the library's ``_trials`` on the harness's
compiled model). A plan ``[(candidates, steps), ...]`` is replayed on them: of
k = 10 random initializations, round 0 ranks all by the loss after its steps,
each later round keeps the best ``candidates`` of the previous one and ranks
them by the loss after its steps; the winner is trained. Cost: ``sum
candidates x (steps + 1)`` train steps (a trial of s steps reads its loss in
step s + 1). The same budget spent on training instead is the equal-compute
baseline of ``benchmarks.sampled_fit``.

The rule was fixed on Fashion-MNIST (the tuning set) before MNIST-1D was
replayed (validation): ``keras_lyapunov._trials.halving_plan`` with a budget of
4% of fit's planned steps and trials of at most 8 steps. The rows "same cost as
the default" split the default's train steps otherwise (fewer survivors, longer
trials): a check of the fixed rule, added afterwards, not a choice.

Usage:
    python -m benchmarks.allocation            # both datasets, writes allocation.md
"""

import datetime
import json
import os
import platform

import numpy as np

from benchmarks import RESULTS, write_report
from benchmarks.trainability_analysis import outcome
from keras_lyapunov._trials import halving_plan, plan_cost
from keras_lyapunov.sampling import DEFAULT_BUDGET_SHARE, DEFAULT_TRIAL_STEPS

K = 10
DRAWS = 4000  # random 10-subsets per estimate
BOOTSTRAP = 200
PLANNED_STEPS = 15 * 40  # the study's fit: 15 epochs of 40 batches (10,000 samples)


def population(dataset, family):
    """(outcomes, losses): per initialization, P(trains) and its (41,) trial losses."""
    folder = os.path.join(RESULTS, "trainability")
    with open(os.path.join(folder, f"{dataset}.jsonl")) as handle:
        records = {(r["family"], r["seed"]): r for r in map(json.loads, handle)
                   if r["kind"] == "iid"}
    with open(os.path.join(folder, f"{dataset}_trials.jsonl")) as handle:
        trials = [t for t in map(json.loads, handle) if t["family"] == family]
    outcomes = np.array([outcome(records[(family, t["seed"])]) for t in trials])
    losses = np.array([t["train_step_loss"] for t in trials], dtype=float)
    return outcomes, np.where(np.isfinite(losses), losses, np.inf)


def replay(plan, outcomes, losses, rng, draws=DRAWS):
    """P(the plan's winner among k random initializations trains); plan None: unsampled."""
    n = len(outcomes)
    subsets = np.argsort(rng.random((draws, n)), axis=1)[:, :K]
    if plan is None:
        return float(outcomes[subsets[:, 0]].mean())
    alive, previous = subsets, None
    for count, steps in plan:
        if previous is not None:
            order = np.argsort(losses[alive, previous], axis=1, kind="stable")[:, :count]
            alive = np.take_along_axis(alive, order, 1)
        previous = steps
    best = np.argmin(losses[alive, previous], axis=1)
    return float(outcomes[alive[np.arange(draws), best]].mean())


def estimate(plan, outcomes, losses, rng):
    """(success, low, high): the replayed success and a 95% bootstrap interval."""
    value = replay(plan, outcomes, losses, rng)
    n = len(outcomes)
    samples = []
    for _ in range(BOOTSTRAP):
        index = rng.integers(0, n, n)
        samples.append(replay(plan, outcomes[index], losses[index], rng, draws=500))
    low, high = np.percentile(samples, [2.5, 97.5])
    return value, float(low), float(high)


def plans():
    """The plans compared: the library's at several budgets, and the alternatives."""
    budget = round(DEFAULT_BUDGET_SHARE * PLANNED_STEPS)
    library = {f"library plan, budget {b}": halving_plan(K, b, DEFAULT_TRIAL_STEPS)
               for b in (18, budget, 30, 40, 60)}
    default = library[f"library plan, budget {budget}"]
    same_cost = {f"same cost as the default, {c} x {s} steps": [(K, 0), (c, s)]
                 for c, s in ((3, 3), (2, 5))
                 if plan_cost([(K, 0), (c, s)]) == plan_cost(default)}
    return {"unsampled (k = 1)": None, "initial loss only": [(K, 0)], **library, **same_cost,
            "former default: every candidate 5 steps": [(K, 5)],
            "every candidate 10 steps": [(K, 10)],
            "three rounds: 5 x 3 steps, then 2 x 10": [(K, 0), (5, 3), (2, 10)]}


def main():
    rng = np.random.default_rng(0)
    default = round(DEFAULT_BUDGET_SHARE * PLANNED_STEPS)
    lines = [
        "# Spending the selection's budget: the library's plan, replayed on the study", "",
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs. Command: "
        "`python -m benchmarks.allocation` (after `python -m benchmarks.trainability "
        "--trials` per dataset).", "", __doc__.split("\n\n")[1].replace("\n", " "), "",
        f"The default: budget = {100 * DEFAULT_BUDGET_SHARE:.0f}% of fit's planned steps "
        f"({default} of the study's {PLANNED_STEPS}), trials of at most "
        f"{DEFAULT_TRIAL_STEPS} steps: `halving_plan({K}, {default}, {DEFAULT_TRIAL_STEPS})` "
        f"= {halving_plan(K, default, DEFAULT_TRIAL_STEPS)}. Best-of-10 success [95% "
        "bootstrap interval]."]
    for dataset, role in (("fashion_mnist", "tuning set: the rule was chosen here"),
                          ("mnist1d", "validation: not tuned on")):
        lines += ["", f"## {dataset} ({role})", "",
                  "| plan | rounds | train steps | Lyapunov orthogonal | Lyapunov normal |",
                  "|---|---|---:|---:|---:|"]
        families = {f: population(dataset, f) for f in ("orthogonal", "normal")}
        for name, plan in plans().items():
            cells = []
            for outcomes, losses in families.values():
                value, low, high = estimate(plan, outcomes, losses, rng)
                cells.append(f"{100 * value:.0f}% [{100 * low:.0f}, {100 * high:.0f}]")
            cost = 0 if plan is None else plan_cost(plan)
            lines.append(f"| {name} | {plan or '-'} | {cost} | {cells[0]} | {cells[1]} |")
        n = {f: len(v[0]) for f, v in families.items()}
        lines.append(f"\n{n['orthogonal']} orthogonal and {n['normal']} normal initializations.")
    write_report("allocation.md", lines)


if __name__ == "__main__":
    main()
