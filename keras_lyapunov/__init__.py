"""keras_lyapunov: Lyapunov initialization for deep, narrow leaky-ReLU networks.

Kogler, Schwarz, Kittle, "Optimal Initialization in Depth: Lyapunov
Initialization and Limit Theorems for Deep Leaky ReLU Networks",
arXiv:2602.10949 (2026).

    from keras_lyapunov import LyapunovOrthogonal
    keras.layers.Dense(10, kernel_initializer=LyapunovOrthogonal(slope=0.01))

Importing the package registers the initializers with Keras's serialization
(package "keras_lyapunov"), so saved models reload without custom_objects.
"""

from keras_lyapunov import theory
from keras_lyapunov.initializers import LyapunovNormal, LyapunovOrthogonal
from keras_lyapunov.diagnostics import SignalReport, comparison_reports, plot_signal, signal_report
from keras_lyapunov.networks import standard_mlp
from keras_lyapunov.sampling import SampledLyapunov, SelectionResult, sample_initialization
from keras_lyapunov.structure import check_slopes
from keras_lyapunov.theory import critical_scale, log_gain_std, lyapunov_exponent, recommended_k

__version__ = "0.1.0"

__all__ = [
    "LyapunovNormal",
    "LyapunovOrthogonal",
    "SampledLyapunov",
    "SelectionResult",
    "SignalReport",
    "check_slopes",
    "comparison_reports",
    "critical_scale",
    "log_gain_std",
    "lyapunov_exponent",
    "plot_signal",
    "recommended_k",
    "sample_initialization",
    "signal_report",
    "standard_mlp",
    "theory",
]
