"""experiments.training: the training loops at tiny size."""

import numpy as np

from experiments.data import load_image_data
from experiments.training import train_classifier, train_regression


def test_train_regression_and_classifier_tiny(idx_dir):
    def sample(rng, n):
        x = rng.uniform(-1, 1, size=(n, 1)).astype("float32")
        return x, (x**2).astype("float32")

    x_eval = np.linspace(-1, 1, 20, dtype="float32")[:, None]
    losses = train_regression("sampled-lyapunov-normal", sample, x_eval, x_eval**2, width=3,
                              hidden=2, steps=20, checkpoints=[5, 20], seed=0, k=2)
    assert losses.shape == (2,) and np.all(np.isfinite(losses))
    train, test = load_image_data(data_dir=str(idx_dir))
    accuracy = train_classifier("lsuv", train, test, epochs=2, hidden=1, seed=0)
    assert accuracy.shape == (2,) and np.all((0 <= accuracy) & (accuracy <= 1))
