"""keras_lyapunov: Lyapunov initialization for deep, narrow leaky-ReLU networks.

Kogler, Schwarz, Kittle, "Optimal Initialization in Depth: Lyapunov
Initialization and Limit Theorems for Deep Leaky ReLU Networks",
arXiv:2602.10949 (2026).

    from keras_lyapunov import LyapunovOrthogonal
    keras.layers.Dense(10, kernel_initializer=LyapunovOrthogonal(slope=0.01))

Importing the package registers the initializers and the ``SampledLyapunov``
callback with Keras's serialization (package "keras_lyapunov"), so saved models
reload without custom_objects: at once if Keras is already imported, else as
soon as Keras is. The mathematics (``keras_lyapunov.theory``) and the ``table``
command import no Keras at all, so they start in a fraction of a second; every
other name is loaded on first use.
"""

import importlib
import importlib.abc
import importlib.util
import sys

from keras_lyapunov import theory
from keras_lyapunov.theory import critical_scale, log_gain_std, lyapunov_exponent, recommended_k

__version__ = "0.1.0"

# name -> the module that defines it, imported on first use (they import Keras).
_LAZY = {
    "DeltaOrthogonal": "keras_lyapunov.initializers",
    "LyapunovDeltaOrthogonal": "keras_lyapunov.initializers",
    "LyapunovNormal": "keras_lyapunov.initializers",
    "LyapunovOrthogonal": "keras_lyapunov.initializers",
    "SampledLyapunov": "keras_lyapunov.sampling",
    "SelectionResult": "keras_lyapunov.sampling",
    "SelectionSettings": "keras_lyapunov.sampling",
    "sample_initialization": "keras_lyapunov.sampling",
    "SignalReport": "keras_lyapunov.diagnostics",
    "Calibration": "keras_lyapunov.exponents",
    "ExponentEstimate": "keras_lyapunov.exponents",
    "calibrate_scale": "keras_lyapunov.exponents",
    "measure_exponent": "keras_lyapunov.exponents",
    "comparison_reports": "keras_lyapunov.diagnostics",
    "plot_signal": "keras_lyapunov.diagnostics",
    "signal_report": "keras_lyapunov.diagnostics",
    "standard_mlp": "keras_lyapunov.networks",
    "leaky_relu_cnn": "keras_lyapunov.networks",
    "check_slopes": "keras_lyapunov.structure",
}
# The modules whose classes Keras must find by their registered names.
_SERIALIZABLES = ("keras_lyapunov.initializers", "keras_lyapunov.sampling")

__all__ = [
    "DeltaOrthogonal",
    "LyapunovDeltaOrthogonal",
    "LyapunovNormal",
    "LyapunovOrthogonal",
    "Calibration",
    "ExponentEstimate",
    "SampledLyapunov",
    "SelectionResult",
    "SelectionSettings",
    "SignalReport",
    "check_slopes",
    "comparison_reports",
    "calibrate_scale",
    "critical_scale",
    "leaky_relu_cnn",
    "log_gain_std",
    "lyapunov_exponent",
    "measure_exponent",
    "plot_signal",
    "recommended_k",
    "sample_initialization",
    "signal_report",
    "standard_mlp",
    "theory",
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_lyapunov' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    _register_serializables()  # Keras is loaded now; nothing of ours is midway
    return value


def __dir__():
    return sorted({*globals(), *_LAZY})


def _register_serializables():
    for module in _SERIALIZABLES:
        if module in sys.modules:
            continue  # imported, or being imported: it registers itself as it completes
        try:
            importlib.import_module(module)
        except ImportError:
            # Keras was imported by one of this package's own modules, midway through
            # its import: that module registers itself when done, the rest on first use.
            pass


class _RegisterOnKerasImport(importlib.abc.MetaPathFinder):
    """Imports the serializable classes right after Keras itself is imported."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)  # one shot; the real finders locate Keras
        spec = importlib.util.find_spec("keras")
        if spec is not None and spec.loader is not None:
            execute = spec.loader.exec_module

            def exec_module(module):
                execute(module)
                _register_serializables()

            spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    _register_serializables()
elif not any(isinstance(finder, _RegisterOnKerasImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnKerasImport())
