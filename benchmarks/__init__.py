"""Benchmarks and studies: they measure the library through its public interface.

The one internal interface they may use is ``keras_lyapunov._scores`` (the
selection's scores, documented there); results go to :data:`RESULTS`. Run them
as modules from the repository root (``python -m benchmarks.selection``).
Importing this package first sets the experiments' environment (quiet logs,
JAX when installed, an explicit KERAS_BACKEND wins) before any script imports Keras.
"""

import os

import experiments.environment  # noqa: F401

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
