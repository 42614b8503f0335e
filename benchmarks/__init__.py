"""Benchmarks and studies: they measure the library through its public interface.

The internal interfaces they may use are ``keras_lyapunov._scores`` and
``keras_lyapunov._trials`` (the selection's scores and trials, documented
there); results go to :data:`RESULTS` (:func:`write_report`). Run them
as modules from the repository root (``python -m benchmarks.selection``).
Importing this package first sets the experiments' environment (quiet logs,
JAX when installed, an explicit KERAS_BACKEND wins) before any script imports Keras.
"""

import os

import experiments.environment  # noqa: F401

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def write_report(name, lines):
    """Prints a report's lines and writes them to ``RESULTS/name``."""
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(RESULTS, name), "w") as handle:
        handle.write(text)
