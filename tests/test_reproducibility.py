"""Pinned values: the same seed gives the same weights release after release.

The expected values were recorded per backend before the package was
restructured (issue "Architecture"), and the restructured code reproduced them
bit for bit on the machine that recorded them. Here they are compared to a
float32 rounding tolerance, not bit for bit: Keras's seeded draws are
deterministic, but the Gaussian transform and the QR of the orthogonal
initializers may differ in the last bits between CPUs and library builds.
Any change of a seed stream, of the order of draws or of a scale changes these
values by far more than the tolerance. Which candidate is chosen is exact. One such
change was deliberate: since 0.1.0's issue 19, JAX draws a candidate's kernels one by one
(``CandidateDrawer``), so its selection values were pinned anew.
"""

import keras
import numpy as np
import pytest

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, sample_initialization

PINNED = {
    "tensorflow": {
        "normal": [-3.400207042694092, -0.9644948244094849, -1.3268694877624512],
        "orthogonal": [-3.1422348022460938, -0.8394681811332703, -0.6994732618331909],
        "selection_chosen": 2,
        "selection_kernel": [-0.8266658782958984, 0.34355428814888, -0.1255803257226944],
        "all_chosen": 0,
        "all_glorot_kernel": [-0.07390683889389038, -0.19583797454833984, 0.480685293674469],
    },
    "jax": {
        "normal": [3.2511541843414307, 4.05785608291626, -0.868757426738739],
        "orthogonal": [2.9187395572662354, 1.8969875574111938, 0.3054661154747009],
        # Re-pinned when JAX candidates came to be drawn kernel by kernel (issue 19: the
        # batched draw compiled new programs in every process); the initializers' own
        # values above are unchanged.
        "selection_chosen": 2,
        "selection_kernel": [0.0536540225148201, -0.12291561812162399, 0.14732949435710907],
        "all_chosen": 0,
        "all_glorot_kernel": [0.46042004227638245, 0.31724873185157776, 0.3517715334892273],
    },
    "torch": {
        "normal": [3.087566614151001, -0.5879192352294922, -4.365460395812988],
        "orthogonal": [3.102468252182007, -0.10211057960987091, 0.9054588675498962],
        "selection_chosen": 2,
        "selection_kernel": [0.3518015146255493, 0.007998405024409294, 1.1957943439483643],
        "all_chosen": 4,
        "all_glorot_kernel": [-0.28664320707321167, 0.2303532361984253, 0.22229808568954468],
    },
}
FLOAT32_RTOL = 1e-5  # a few float32 ulps through the Gaussian transform and QR


@pytest.fixture
def pinned():
    backend = keras.backend.backend()
    if backend not in PINNED:
        pytest.skip(f"no pinned values for the {backend} backend")
    return PINNED[backend]


def first_values(tensor, count=3):
    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64).ravel()[:count]


def reference_model():
    """Glorot first layer, alternating Lyapunov hidden layers, a Gaussian softmax head."""
    generator = keras.random.SeedGenerator(3)
    layers = [keras.Input((8,)),
              keras.layers.Dense(8, kernel_initializer=keras.initializers.GlorotUniform(seed=1))]
    for i in range(6):
        init = (LyapunovOrthogonal if i % 2 else LyapunovNormal)(seed=generator)
        layers += [keras.layers.Dense(8, kernel_initializer=init),
                   keras.layers.LeakyReLU(negative_slope=0.01)]
    layers += [keras.layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(
        stddev=0.3, seed=2)), keras.layers.Softmax()]
    return keras.Sequential(layers)


def probes():
    return np.random.default_rng(0).uniform(size=(32, 8)).astype("float32")


def test_initializers_reproduce_their_pinned_values(pinned):
    np.testing.assert_allclose(first_values(LyapunovNormal(slope=0.01, seed=0)((4, 3))),
                               pinned["normal"], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(first_values(LyapunovOrthogonal(slope=0.01, seed=0)((4, 3))),
                               pinned["orthogonal"], rtol=FLOAT32_RTOL)


def test_selection_reproduces_its_pinned_choice_and_weights(pinned):
    model = reference_model()
    result = sample_initialization(model, probes(), k=5, seed=0, score="scale-free")
    assert result.chosen == pinned["selection_chosen"]
    np.testing.assert_allclose(first_values(model.weights[4]), pinned["selection_kernel"],
                               rtol=FLOAT32_RTOL)

    model = reference_model()
    result = sample_initialization(model, probes(), k=5, seed=1, layers="all",
                                   score="scale-free")
    assert result.chosen == pinned["all_chosen"]
    np.testing.assert_allclose(first_values(model.weights[0]), pinned["all_glorot_kernel"],
                               rtol=FLOAT32_RTOL)
