"""The paper's experiments, beside the library (not installed with it).

The one harness of ``examples/`` and ``benchmarks/``, so that every script trains
exactly the same models: ``methods`` (the initialization methods, the MLPs,
LSUV), ``tasks`` (the paper's tasks and published numbers), ``data`` (MNIST /
Fashion-MNIST, digits, MNIST-1D, the trainability study's splits),
``training`` (the training loops), ``seeds`` (the experiments' seed streams),
``proportions`` (the Wilson interval and sign test of seeds that train),
``timing`` (the one timer) and ``command_line`` (the examples' options and
results table).
Import ``experiments.environment`` before Keras to choose the backend (the
``examples`` and ``benchmarks`` packages do it on import).

Run the scripts as modules from the repository root, e.g.
``python -m examples.polynomial`` or ``python -m benchmarks.replicate``.
"""
