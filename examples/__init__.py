"""Runnable examples: leaves that import ``keras_lyapunov`` and ``experiments``; nothing imports them.

Run them as modules from the repository root (``python -m examples.demo``).
Importing this package first sets the experiments' environment (quiet logs,
JAX when installed, an explicit KERAS_BACKEND wins) before any script imports Keras.
"""

import experiments.environment  # noqa: F401
