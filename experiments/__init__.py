"""The paper's experiments, beside the library (not installed with it).

Shared by ``examples/`` and ``benchmarks/`` so that every script trains exactly
the same models: ``methods`` (the initialization methods, the MLPs, LSUV),
``data`` (MNIST / Fashion-MNIST), ``training`` (the training loops) and
``command_line`` (the examples' options and results table). Import
``experiments.environment`` before Keras to choose the backend.

Run the scripts as modules from the repository root, e.g.
``python -m examples.polynomial`` or ``python -m benchmarks.replicate``.
"""
