"""What predicts that a deep, narrow network trains? A study over many initializations.

On the paper's image model (Dense 784->10, 98 Dense 10->10, Dense 10->10 logits,
LeakyReLU 0.01; ``experiments.methods.build_mlp``) and a fixed Fashion-MNIST
subset (10,000 training images, the 10,000 test images), every initialization
(``--inits`` Lyapunov-orthogonal and as many Lyapunov-normal seeds) gets:

- a vector of statistics measured at initialization on 256 probe images (and
  their labels): the library's own selection scores, measured by the library
  (``keras_lyapunov._scores``: the scale-free mean log-gain, with data and with
  uniform probes; the paper's log of the mean output norm, target 1; the initial
  loss and the loss after 1-40 trial AdamW steps on the probe batch, GradInit's
  "loss after a step" run longer: the model's own train step, the selection's
  trial in ``keras_lyapunov._trials``; older records also hold the loss on a
  held-out batch after the library's former AdamW trial), and, in JAX, what
  the library does not ship: the per-probe spread of log-gains, the trajectory of the mean log-norm
  through depth (deepest dip and highest peak relative to layer 1, RMS), angular
  diversity (mean pairwise cosine, effective rank) at several depths,
  input-output Jacobian log-norms on random directions, per-layer gradient
  norms and MetaInit's gradient quotient;
- its outcome: test accuracy after each of 15 epochs of the harness's training
  (``experiments.training``: AdamW 1e-3, weight decay 0.004, cosine decay,
  batch 256), under two data orders, and after 15 + ``--extra-epochs`` epochs
  (for the equal-compute comparison). A run *trains* when its final accuracy
  is at least chance + 10 points.

It also trains ``--layerwise`` networks per family built by layer-wise
sequential selection (each hidden kernel the best of k draws: the one whose
output mean log-norm on the probes is closest to its input's).

Records go to ``benchmarks/results/trainability/<dataset>.jsonl``, one JSON
line per initialization, and a rerun resumes where it stopped. ``--analyze``
(run after the collection, or alone) computes for every score the success rate
of best-of-k (exact over all k-subsets, 95% bootstrap intervals), its Spearman
correlation with the final accuracy, its cost, and writes
``benchmarks/results/trainability.md`` and ``trainability.png``.

Usage (JAX backend; about 45 minutes on 2 cores; mnist1d needs ``pip install mnist1d``):
    python -m benchmarks.trainability --data-dir /usr/share/datasets/fashion-mnist
    python -m benchmarks.trainability --dataset mnist1d --inits 100 --layerwise 10
    python -m benchmarks.trainability --analyze   # the report again, from the records
    python -m benchmarks.trainability --data-dir /usr/share/datasets/fashion-mnist --trials
"""

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import keras
import numpy as np

from benchmarks import RESULTS
from experiments.data import load_study_data, study_data_parser
from experiments.methods import build_mlp
from experiments.seeds import DATA_ORDER, LAYERWISE, derive_seed
from experiments.training import ClassifierTrainer, compile_classifier
from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, _scores, _trials

SLOPE = 0.01
WIDTH = 10
HIDDEN = 98
EPOCHS = 15
BATCH = 256
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.004
TRIAL_STEPS = 40
DEPTHS = (1, 10, 25, 50, 75, 99, 100)  # layers whose representation is measured
FAMILIES = {"orthogonal": "lyapunov-orthogonal", "normal": "lyapunov-normal"}
LAYERWISE_SEED_OFFSET = 1_000_000


# --------------------------------------------------------------------------
# The library's scores, measured by the library
# --------------------------------------------------------------------------


class LibraryScores:
    """The shipped scores of an initialization, through the library's own code.

    One model of the study's architecture is built and compiled as the harness
    trains it (``experiments.training.compile_classifier``: AdamW, cosine decay
    over the 15 epochs) once; each call loads an initialization's weights into
    it, so every compiled function is traced once. The norm statistics come
    from ``keras_lyapunov._scores``; the losses after 0-40 trial steps from
    ``keras_lyapunov._trials``, the selection's trial: the model's own train
    step on the probe batch (the study's stand-in for fit's first batch).
    """

    def __init__(self, input_dim, classes, probes, x_uniform, steps_per_epoch):
        self.model = build_mlp(input_dim, WIDTH, HIDDEN, classes, method="lyapunov-orthogonal")
        compile_classifier(self.model, EPOCHS * steps_per_epoch, learning_rate=LEARNING_RATE,
                           weight_decay=WEIGHT_DECAY)
        self.probes, self.x_uniform = probes, x_uniform
        self.batch = tuple(keras.ops.convert_to_tensor(part) for part in probes)

    def _statistic(self, score, x, **options):
        with _scores.scorer(self.model, score, x, **options) as scoring:
            return scoring.statistic()

    def trial_losses(self, weights):
        """The training losses of ``weights`` after 0..TRIAL_STEPS trial steps (inf once diverged)."""
        self.model.set_weights(weights)
        with _trials.restoring_trial(self.model, self.batch) as trial:
            losses = trial.losses(TRIAL_STEPS)
        return losses + [math.inf] * (TRIAL_STEPS + 1 - len(losses))

    def __call__(self, weights):
        losses = self.trial_losses(weights)
        return {
            "scale_free": self._statistic("scale-free", self.probes[0]),
            "scale_free_uniform": self._statistic("scale-free", self.x_uniform),
            "log_mean_norm": self._statistic("target-norm", self.probes[0], target_norm=1.0),
            "initial_loss": losses[0], "trial_loss": losses,
        }


# --------------------------------------------------------------------------
# Statistics the library does not ship (pure JAX on the model's kernels and biases)
# --------------------------------------------------------------------------


def leaky(z):
    return jnp.where(z >= 0, z, SLOPE * z)


def states(params, x):
    """Every layer's output (post-activation; the last is the logits)."""
    outputs, h = [], x
    for index, (kernel, bias) in enumerate(params):
        z = h @ kernel + bias
        h = z if index == len(params) - 1 else leaky(z)
        outputs.append(h)
    return outputs


def cross_entropy(params, x, y):
    """The mean loss, for the gradient statistics (the trial uses the library's)."""
    logits = states(params, x)[-1]
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1)
                    - jnp.take_along_axis(logits, y[:, None], axis=-1)[:, 0])


def log_norm(h):
    return jnp.log(jnp.linalg.norm(h, axis=-1))


def angular(h):
    """Mean pairwise cosine, and effective rank (exp entropy of singular values, centered)."""
    unit = h / jnp.linalg.norm(h, axis=-1, keepdims=True)
    n = h.shape[0]
    cosine = (jnp.sum(unit @ unit.T) - n) / (n * (n - 1))
    singular = jnp.linalg.svd(h - jnp.mean(h, axis=0), compute_uv=False)
    p = singular / jnp.sum(singular)
    rank = jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))
    return cosine, rank


@jax.jit
def unshipped_statistics(params, x, y, directions):
    """The statistics of one initialization that the library does not compute."""
    hs = states(params, x)
    log_in = log_norm(x)
    logs = jnp.stack([log_norm(h) for h in hs])  # (layers, probes)
    gains = logs[-1] - log_in
    trajectory = jnp.mean(logs, axis=1) - jnp.mean(logs[0])
    out = {
        "gain_spread": jnp.std(gains),
        "gain_rms": jnp.sqrt(jnp.mean(gains ** 2)),
        "dip": jnp.min(trajectory),
        "peak": jnp.max(trajectory),
        "trajectory_rms": jnp.sqrt(jnp.mean(trajectory ** 2)),
        "layer_log_norms": jnp.mean(logs, axis=1),
    }
    for depth in DEPTHS:
        out[f"cosine_{depth}"], out[f"rank_{depth}"] = angular(hs[depth - 1])
    jvp = jax.vmap(lambda xi, vi: jax.jvp(lambda u: states(params, u[None])[-1][0],
                                          (xi,), (vi,))[1])(x, directions)
    jacobian = jnp.log(jnp.linalg.norm(jvp, axis=-1))
    out["jacobian_mean"], out["jacobian_spread"] = jnp.mean(jacobian), jnp.std(jacobian)
    grads = jax.grad(cross_entropy)(params, x, y)
    out["grad_log_norms"] = jnp.stack([jnp.log(jnp.linalg.norm(g[0])) for g in grads])
    # MetaInit's gradient quotient: mean |H g / g| (Hessian-vector product by jvp)
    hvp = jax.jvp(lambda p: jax.grad(cross_entropy)(p, x, y), (params,), (grads,))[1]
    flat_g = jnp.concatenate([g[0].ravel() for g in grads])
    flat_hg = jnp.concatenate([h[0].ravel() for h in hvp])
    out["gradient_quotient"] = jnp.mean(jnp.abs(flat_hg) / (jnp.abs(flat_g) + 1e-5))
    return out


def params_of(weights):
    return [(jnp.asarray(weights[i]), jnp.asarray(weights[i + 1]))
            for i in range(0, len(weights), 2)]


# --------------------------------------------------------------------------
# Layer-wise sequential selection (a study-only method)
# --------------------------------------------------------------------------


def layerwise_weights(family, input_dim, classes, seed, probes, k):
    """Weights of build_mlp(seed) whose hidden kernels are each the best of k draws.

    Layer by layer, every hidden kernel is drawn k times (its exact Lyapunov
    law each time) and the draw whose output's mean log-norm on the probes is
    closest to its input's is kept, so the spread never accumulates.
    """
    model = build_mlp(input_dim, WIDTH, HIDDEN, classes, method=FAMILIES[family], seed=seed)
    initializer = {"orthogonal": LyapunovOrthogonal, "normal": LyapunovNormal}[family]
    weights = model.get_weights()
    h = leaky(probes @ weights[0] + weights[1])
    for layer in range(1, HIDDEN + 1):
        target = jnp.mean(log_norm(h))
        best, best_gap, best_h = None, float("inf"), None
        for j in range(k):
            kernel = initializer(SLOPE, seed=derive_seed(seed, LAYERWISE, layer, j))(
                (WIDTH, WIDTH))
            candidate = leaky(h @ jnp.asarray(keras.ops.convert_to_numpy(kernel)))
            gap = abs(float(jnp.mean(log_norm(candidate)) - target))
            if gap < best_gap:
                best, best_gap, best_h = kernel, gap, candidate
        weights[2 * layer] = np.asarray(keras.ops.convert_to_numpy(best))
        h = best_h
    return weights


# --------------------------------------------------------------------------
# Collection
# --------------------------------------------------------------------------


def _done(path):
    if not os.path.exists(path):
        return set()
    with open(path) as handle:
        return {(r["family"], r["kind"], r["seed"]) for r in map(json.loads, handle)}


def _as_json(value):
    array = np.asarray(value)
    return round(float(array), 6) if array.ndim == 0 else array.round(6).tolist()


def study_inputs(probes):
    """The uniform probes and the unit Jacobian directions (fixed, seed 1)."""
    rng = np.random.default_rng(1)
    x_uniform = rng.uniform(0, 1, probes[0].shape).astype("float32")
    directions = rng.standard_normal(probes[0].shape).astype("float32")
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return x_uniform, directions


def initialization_record(library_scores, weights, probes, directions):
    """Every statistic of one initialization, as JSON-ready values."""
    stats = dict(unshipped_statistics(params_of(weights), *probes, directions))
    stats.update(library_scores(weights))
    return {name: _as_json(value) for name, value in stats.items()}


def collect(args):
    train, test, probes, _ = load_study_data(args.dataset, args.data_dir, args.train_size)
    input_dim, classes = train[0].shape[1], int(train[1].max()) + 1
    x_uniform, directions = study_inputs(probes)
    library_scores = LibraryScores(input_dim, classes, probes, x_uniform,
                                   -(-len(train[0]) // BATCH))
    trainers = {epochs: ClassifierTrainer(
        build_mlp(input_dim, WIDTH, HIDDEN, classes, method="lyapunov-orthogonal"), train, test,
        epochs=epochs, batch_size=BATCH, learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
        for epochs in (args.epochs, args.epochs + args.extra_epochs)}
    path = os.path.join(RESULTS, "trainability", f"{args.dataset}.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    done = _done(path)
    jobs = [(family, "iid", seed) for seed in range(args.inits) for family in FAMILIES]
    jobs += [(family, "layerwise", LAYERWISE_SEED_OFFSET + seed)
             for seed in range(args.layerwise) for family in FAMILIES]
    todo = [job for job in jobs if job not in done]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} initializations done; {path}", flush=True)
    start = time.time()
    order_a, order_b = DATA_ORDER
    for count, (family, kind, seed) in enumerate(todo, 1):
        if kind == "iid":
            weights = build_mlp(input_dim, WIDTH, HIDDEN, classes, method=FAMILIES[family],
                                seed=seed).get_weights()
            record = initialization_record(library_scores, weights, probes, directions)
        else:
            weights = layerwise_weights(family, input_dim, classes, seed, probes[0], args.k)
            record = {}
        record.update(family=family, kind=kind, seed=seed)
        record["accuracy"] = trainers[args.epochs](weights, derive_seed(seed, order_a))
        record["accuracy_order_b"] = trainers[args.epochs](weights, derive_seed(seed, order_b))
        if kind == "iid":
            record["accuracy_extra"] = trainers[args.epochs + args.extra_epochs](
                weights, derive_seed(seed, order_a))
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if count % 20 == 0 or count == len(todo):
            elapsed = time.time() - start
            print(f"  {count}/{len(todo)}  {elapsed / 60:.1f} min, "
                  f"{(len(todo) - count) * elapsed / count / 60:.1f} min left", flush=True)


def train_step_losses(args):
    """Each recorded initialization's training losses over 40 steps of the selection's trial.

    The trial is the library's (``keras_lyapunov._trials``, through
    :class:`LibraryScores`): the harness's own compiled train step on the probe
    batch. Writes ``trainability/<dataset>_trials.jsonl`` (family, seed,
    ``train_step_loss``), on which ``benchmarks.trainability_analysis``
    evaluates the budget's allocation rules.
    """
    train, _, probes, _ = load_study_data(args.dataset, args.data_dir, args.train_size)
    input_dim, classes = train[0].shape[1], int(train[1].max()) + 1
    library_scores = LibraryScores(input_dim, classes, probes, study_inputs(probes)[0],
                                   -(-len(train[0]) // BATCH))
    records = [r for r in _records(args.dataset) if r["kind"] == "iid"]
    path = os.path.join(RESULTS, "trainability", f"{args.dataset}_trials.jsonl")
    start = time.time()
    with open(path, "w") as handle:
        for count, record in enumerate(records, 1):
            losses = library_scores.trial_losses(build_mlp(
                input_dim, WIDTH, HIDDEN, classes, method=FAMILIES[record["family"]],
                seed=record["seed"]).get_weights())
            handle.write(json.dumps({"family": record["family"], "seed": record["seed"],
                                     "train_step_loss": [_as_json(v) for v in losses]}) + "\n")
            if count % 50 == 0:
                print(f"  {count}/{len(records)}  {time.time() - start:.0f} s", flush=True)


def _records(dataset):
    with open(os.path.join(RESULTS, "trainability", f"{dataset}.jsonl")) as handle:
        return list(map(json.loads, handle))


def main(argv=None):
    parser = study_data_parser(__doc__.split("\n")[0])
    parser.add_argument("--inits", type=int, default=200, help="seeds per family")
    parser.add_argument("--layerwise", type=int, default=20,
                        help="layer-wise selected networks per family")
    parser.add_argument("--k", type=int, default=10, help="draws per layer (layer-wise)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--extra-epochs", type=int, default=2)
    parser.add_argument("--analyze", action="store_true", help="only analyze the records")
    parser.add_argument("--trials", action="store_true",
                        help="only measure every recorded initialization's losses over 40 "
                        "steps of the model's own train step (the selection's trial)")
    args = parser.parse_args(argv)
    if args.trials:
        return train_step_losses(args)
    if not args.analyze:
        collect(args)
    from benchmarks import trainability_analysis

    trainability_analysis.main(args)


if __name__ == "__main__":
    main()
