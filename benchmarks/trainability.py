"""What predicts that a deep, narrow network trains? A study over many initializations.

On the paper's image model (Dense 784->10, 98 Dense 10->10, Dense 10->10 logits,
LeakyReLU 0.01; ``experiments.methods.build_mlp``) and a fixed Fashion-MNIST
subset (10,000 training images, the 10,000 test images), every initialization
(``--inits`` Lyapunov-orthogonal and as many Lyapunov-normal seeds) gets:

- a vector of statistics measured at initialization on 256 probe images (and
  their labels): the present selection scores (scale-free mean log-gain, with
  data and with uniform probes; the paper's log of the mean output norm, target
  1), the per-probe spread of log-gains, the trajectory of the mean log-norm
  through depth (deepest dip and highest peak relative to layer 1, RMS), angular
  diversity (mean pairwise cosine, effective rank) at several depths,
  input-output Jacobian log-norms on random directions, the initial loss,
  per-layer gradient norms, MetaInit's gradient quotient, and the loss after
  1-40 trial AdamW steps on the probe batch (GradInit's "loss after a step",
  run longer);
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
"""

import experiments.environment  # noqa: F401  (before Keras: JAX, quiet logs)

import argparse
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import keras
import numpy as np

from experiments.data import load_image_data
from experiments.methods import build_mlp
from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal
from keras_lyapunov._seeds import derive_seed

SLOPE = 0.01
WIDTH = 10
HIDDEN = 98
EPOCHS = 15
BATCH = 256
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.004
PROBES = 256
HELD_OUT = 1024
TRIAL_STEPS = 40
DEPTHS = (1, 10, 25, 50, 75, 99, 100)  # layers whose representation is measured
FAMILIES = {"orthogonal": "lyapunov-orthogonal", "normal": "lyapunov-normal"}
LAYERWISE_SEED_OFFSET = 1_000_000
LAYERWISE_STREAM = 20
RESULTS = os.path.join(os.path.dirname(__file__), "results")


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def load(dataset, data_dir, train_size):
    """``(train, test, probes, held_out)``: fixed splits of the named dataset."""
    if dataset == "mnist1d":
        import mnist1d.data

        settings = mnist1d.data.get_dataset_args()
        settings.num_samples = train_size * 5 // 4  # 80% train, 20% test
        data = mnist1d.data.make_dataset(settings)
        x_train, y_train = data["x"].astype("float32"), data["y"].astype("int32")
        x_test, y_test = data["x_test"].astype("float32"), data["y_test"].astype("int32")
    else:
        (x_train, y_train), (x_test, y_test) = load_image_data(dataset, data_dir)
    order = np.random.default_rng(0).permutation(len(x_train))
    x_train, y_train = x_train[order[:train_size]], y_train[order[:train_size]]
    # probes and the held-out batch are training images: what a user has at hand
    probes = (x_train[:PROBES], y_train[:PROBES])
    held_out = (x_train[PROBES:PROBES + HELD_OUT], y_train[PROBES:PROBES + HELD_OUT])
    return (x_train, y_train), (x_test, y_test), probes, held_out


# --------------------------------------------------------------------------
# Statistics at initialization (pure JAX on the model's kernels and biases)
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


def adamw_trajectory(params, x, y, x_held, y_held, steps):
    """Loss on the probe batch and on a held-out batch after 0..steps AdamW steps (lr const)."""
    beta1, beta2, epsilon = 0.9, 0.999, 1e-7  # keras.optimizers.AdamW defaults
    zeros = jax.tree.map(jnp.zeros_like, params)

    def step(carry, t):
        weights, m, v = carry
        loss, grads = jax.value_and_grad(cross_entropy)(weights, x, y)
        held = cross_entropy(weights, x_held, y_held)
        m = jax.tree.map(lambda a, g: beta1 * a + (1 - beta1) * g, m, grads)
        v = jax.tree.map(lambda a, g: beta2 * a + (1 - beta2) * g * g, v, grads)
        rate = LEARNING_RATE * jnp.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        weights = jax.tree.map(
            lambda w, a, b: w - LEARNING_RATE * WEIGHT_DECAY * w
            - rate * a / (jnp.sqrt(b) + epsilon), weights, m, v)
        return (weights, m, v), (loss, held)

    _, (losses, held) = jax.lax.scan(step, (params, zeros, zeros),
                                     jnp.arange(1, steps + 2, dtype=jnp.float32))
    return losses, held  # entry s: after s steps


@jax.jit
def statistics(params, x, y, x_held, y_held, x_uniform, directions):
    """The statistics of one initialization (a dict of scalars and short vectors)."""
    hs = states(params, x)
    log_in = log_norm(x)
    logs = jnp.stack([log_norm(h) for h in hs])  # (layers, probes)
    gains = logs[-1] - log_in
    trajectory = jnp.mean(logs, axis=1) - jnp.mean(logs[0])
    largest = jnp.max(logs[-1])
    out = {
        "scale_free": jnp.mean(gains),
        "scale_free_uniform": jnp.mean(
            log_norm(states(params, x_uniform)[-1]) - log_norm(x_uniform)),
        "log_mean_norm": largest + jnp.log(jnp.mean(jnp.exp(logs[-1] - largest))),
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
    loss, grads = jax.value_and_grad(cross_entropy)(params, x, y)
    out["initial_loss"] = loss
    grad_logs = jnp.stack([jnp.log(jnp.linalg.norm(g[0])) for g in grads])
    out["grad_log_norms"] = grad_logs
    # MetaInit's gradient quotient: mean |H g / g| (Hessian-vector product by jvp)
    hvp = jax.jvp(lambda p: jax.grad(cross_entropy)(p, x, y), (params,), (grads,))[1]
    flat_g = jnp.concatenate([g[0].ravel() for g in grads])
    flat_hg = jnp.concatenate([h[0].ravel() for h in hvp])
    out["gradient_quotient"] = jnp.mean(jnp.abs(flat_hg) / (jnp.abs(flat_g) + 1e-5))
    out["trial_loss"], out["trial_held_loss"] = adamw_trajectory(
        params, x, y, x_held, y_held, TRIAL_STEPS)
    return out


def params_of(model):
    weights = model.get_weights()
    return [(jnp.asarray(weights[i]), jnp.asarray(weights[i + 1]))
            for i in range(0, len(weights), 2)]


# --------------------------------------------------------------------------
# Outcome: the harness's training, reusing one compiled model
# --------------------------------------------------------------------------


class Trainer:
    """Trains a given set of weights as ``experiments.training.train_classifier`` does."""

    def __init__(self, input_dim, classes, train, test, epochs):
        self.train, self.test, self.epochs = train, test, epochs
        self.model = build_mlp(input_dim, WIDTH, HIDDEN, classes, method="lyapunov-orthogonal")
        steps = epochs * math.ceil(len(train[0]) / BATCH)
        schedule = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps=steps)
        self.optimizer = keras.optimizers.AdamW(schedule, weight_decay=WEIGHT_DECAY)
        self.model.compile(
            optimizer=self.optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"], steps_per_execution=math.ceil(len(train[0]) / BATCH))

    def __call__(self, weights, order_seed):
        self.model.set_weights(weights)
        for variable in self.optimizer.variables:
            variable.assign(np.zeros(variable.shape, variable.dtype))
        keras.utils.set_random_seed(order_seed)  # the data order
        history = self.model.fit(*self.train, batch_size=BATCH, epochs=self.epochs, verbose=0,
                                 validation_data=self.test)
        accuracy = np.array(history.history["val_accuracy"], dtype=float)
        return np.where(np.isfinite(accuracy), accuracy, 0.0).round(5).tolist()


# --------------------------------------------------------------------------
# Layer-wise sequential selection
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
        best, best_gap, best_h = None, math.inf, None
        for j in range(k):
            kernel = initializer(SLOPE, seed=derive_seed(seed, LAYERWISE_STREAM, layer, j))(
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


def collect(args):
    train, test, probes, held_out = load(args.dataset, args.data_dir, args.train_size)
    input_dim, classes = train[0].shape[1], int(train[1].max()) + 1
    rng = np.random.default_rng(1)
    x_uniform = rng.uniform(0, 1, probes[0].shape).astype("float32")
    directions = rng.standard_normal(probes[0].shape).astype("float32")
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    trainers = {epochs: Trainer(input_dim, classes, train, test, epochs)
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
    for count, (family, kind, seed) in enumerate(todo, 1):
        if kind == "iid":
            model = build_mlp(input_dim, WIDTH, HIDDEN, classes, method=FAMILIES[family],
                              seed=seed)
            weights = model.get_weights()
            stats = statistics(params_of(model), probes[0], probes[1], *held_out,
                               x_uniform, directions)
            record = {name: _as_json(value) for name, value in stats.items()}
        else:
            weights = layerwise_weights(family, input_dim, classes, seed, probes[0], args.k)
            record = {}
        record.update(family=family, kind=kind, seed=seed)
        record["accuracy"] = trainers[args.epochs](weights, derive_seed(seed, 0))
        record["accuracy_order_b"] = trainers[args.epochs](weights, derive_seed(seed, 1))
        if kind == "iid":
            record["accuracy_extra"] = trainers[args.epochs + args.extra_epochs](
                weights, derive_seed(seed, 0))
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        if count % 20 == 0 or count == len(todo):
            elapsed = time.time() - start
            print(f"  {count}/{len(todo)}  {elapsed / 60:.1f} min, "
                  f"{(len(todo) - count) * elapsed / count / 60:.1f} min left", flush=True)


def data_parser(description):
    """The command line of the study's data: --dataset, --data-dir, --train-size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="fashion_mnist",
                        choices=["fashion_mnist", "mnist", "mnist1d"])
    parser.add_argument("--data-dir", default=None, help="IDX folder (offline)")
    parser.add_argument("--train-size", type=int, default=10_000)
    return parser


def main(argv=None):
    parser = data_parser(__doc__.split("\n")[0])
    parser.add_argument("--inits", type=int, default=200, help="seeds per family")
    parser.add_argument("--layerwise", type=int, default=20,
                        help="layer-wise selected networks per family")
    parser.add_argument("--k", type=int, default=10, help="draws per layer (layer-wise)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--extra-epochs", type=int, default=2)
    parser.add_argument("--analyze", action="store_true", help="only analyze the records")
    args = parser.parse_args(argv)
    if not args.analyze:
        collect(args)
    from benchmarks import trainability_analysis

    trainability_analysis.main(args)


if __name__ == "__main__":
    main()
