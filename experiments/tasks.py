"""The paper's tasks and its published numbers: what the examples run and the benchmarks check.

Kogler, Schwarz, Kittle, arXiv:2602.10949: the regression of a degree-5
polynomial (Table 3), the score of a Gaussian mixture, and image classification
(Table 2). A :class:`RegressionTask` holds everything a regression run needs:
fresh training samples, the fixed evaluation set, the checkpoints and the methods.
"""

import dataclasses
import math
from collections.abc import Callable

import numpy as np

__all__ = ["PAPER_EPOCHS", "PAPER_MNIST", "POLYNOMIAL", "RegressionTask", "SCORE"]


@dataclasses.dataclass(frozen=True)
class RegressionTask:
    """A regression task on fresh samples.

    Attributes:
        name: short name (``"polynomial"``, ``"score"``).
        sample: ``(rng, n) -> (x, y)``, ``n`` fresh training pairs.
        evaluation_set: ``() -> (x, y)``, the fixed test set.
        checkpoint_marks: steps at which the test loss is taken (those below the length).
        methods: the ``experiments.methods.METHODS`` keys the paper compares.
        hidden: the paper's number of hidden layers (width 2).
        paper: the paper's test MSE at step 10,000 per method, or None.
    """

    name: str
    sample: Callable
    evaluation_set: Callable
    checkpoint_marks: tuple
    methods: tuple
    hidden: int
    paper: dict | None = None

    def checkpoints_for(self, steps):
        """The checkpoints of a run of ``steps`` steps (the last is ``steps``)."""
        return [*(s for s in self.checkpoint_marks if s < steps), steps]


# --------------------------------------------------------------------------
# The degree-5 polynomial (Table 3)
# --------------------------------------------------------------------------

POLYNOMIAL_INTERVAL = (-2.0, 2.0)
PAPER_POLYNOMIAL_MSE = {
    "glorot": 3.34, "he": 3.18, "scaled-orthogonal": 0.60, "lyapunov-normal": 0.63,
    "lyapunov-orthogonal": 0.35, "sampled-lyapunov-normal": 0.22,
    "sampled-lyapunov-orthogonal": 0.10,
}  # fmt: skip  (the paper's test MSE at step 10,000)


def polynomial(x):
    """``p(x) = x (x^2 - 1) (x^2 - 4)``: five roots on [-2, 2], values in [-3.63, 3.63]."""
    return x * (x**2 - 1.0) * (x**2 - 4.0)


def _polynomial_sample(rng, n):
    x = rng.uniform(*POLYNOMIAL_INTERVAL, size=(n, 1)).astype("float32")
    return x, polynomial(x).astype("float32")


def _polynomial_evaluation_set():
    x = np.linspace(*POLYNOMIAL_INTERVAL, 1000, dtype="float32")[:, None]
    return x, polynomial(x)


POLYNOMIAL = RegressionTask(
    name="polynomial", sample=_polynomial_sample, evaluation_set=_polynomial_evaluation_set,
    checkpoint_marks=(10, 100, 1000, 2000, 5000, 10000), methods=tuple(PAPER_POLYNOMIAL_MSE),
    hidden=40, paper=PAPER_POLYNOMIAL_MSE)


# --------------------------------------------------------------------------
# The score of a 3-component Gaussian mixture
# --------------------------------------------------------------------------

MIXTURE_MEANS = 2.0 * np.array([[math.cos(t), math.sin(t)]
                                for t in (0, 2 * math.pi / 3, 4 * math.pi / 3)])
MIXTURE_STD = 0.5
SCORE_EVALUATION_SEED = 12345


def mixture_score(x):
    """Exact ``grad log p(x)`` of the mixture, shape ``(n, 2)``."""
    differences = MIXTURE_MEANS[None, :, :] - x[:, None, :]  # (n, 3, 2)
    logits = -np.sum(differences**2, axis=2) / (2 * MIXTURE_STD**2)
    responsibilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    responsibilities /= responsibilities.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", responsibilities, differences) / MIXTURE_STD**2


def _score_sample(rng, n):
    x = MIXTURE_MEANS[rng.integers(0, 3, size=n)] + MIXTURE_STD * rng.standard_normal((n, 2))
    return x.astype("float32"), mixture_score(x).astype("float32")


SCORE = RegressionTask(
    name="score", sample=_score_sample,
    evaluation_set=lambda: _score_sample(np.random.default_rng(SCORE_EVALUATION_SEED), 2000),
    checkpoint_marks=(10, 100, 1000, 2000, 5000),
    methods=("he", "scaled-orthogonal", "sampled-lyapunov-normal",
             "sampled-lyapunov-orthogonal"),
    hidden=30)


# --------------------------------------------------------------------------
# Image classification (Table 2)
# --------------------------------------------------------------------------

PAPER_EPOCHS = (1, 5, 15, 50, 200)
PAPER_MNIST = {  # the paper's MNIST test accuracy (%) at PAPER_EPOCHS
    "he": (15, 23, 31, 34, 36),
    "lyapunov-orthogonal": (19, 40, 62, 76, 84),
    "sampled-lyapunov-orthogonal": (21, 44, 60, 70, 80),
}
