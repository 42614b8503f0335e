"""Runs Lyapunov initialization and sampled selection under a distribution.

Used by tests/test_distribution.py in a subprocess, because devices must be
configured before the backend starts:

    python tests/distributed_check.py mirrored|data_parallel|model_parallel
    python tests/distributed_check.py mirrored_models 1|2

Prints one JSON line: whether every replica / shard of every weight equals a
single-device run with the same seeds, the chosen candidates, how the kernels
are sharded, and the training losses after selection. ``mirrored_models`` builds
several models in one process under a MirroredStrategy of 1 or 2 CPUs and
reports, per model, whether its own kernels were fingerprinted, sampled when
fresh, and left untouched when set by hand or loaded.
"""

import json
import os
import sys
import warnings

MODE = sys.argv[1]
MIRRORED = MODE.startswith("mirrored")
os.environ["KERAS_BACKEND"] = "tensorflow" if MIRRORED else "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if not MIRRORED:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
warnings.simplefilter("ignore")

if MIRRORED:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_lyapunov import (  # noqa: E402
    LyapunovNormal,
    LyapunovOrthogonal,
    SampledLyapunov,
    sample_initialization,
)
from keras_lyapunov._provenance import fingerprints  # noqa: E402


def build():
    generator = keras.random.SeedGenerator(0)
    layers = [keras.Input((8,))]
    for i in range(10):
        cls = LyapunovOrthogonal if i % 2 else LyapunovNormal
        layers += [keras.layers.Dense(8, kernel_initializer=cls(0.01, seed=generator),
                                      name=f"d{i}"),
                   keras.layers.LeakyReLU(0.01)]
    return keras.Sequential(layers)


def fit_with_selection(model, x, y):
    """Selection in on_train_begin (lr 0: weights stay as selected), then real training."""
    callback = SampledLyapunov(k=5, seed=7, x=x, verbose=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[callback])
    selected = [keras.ops.convert_to_numpy(w) for w in model.weights]
    return callback.result, selected


def pieces(variable):
    """Every replica (TF mirrored) or every addressable shard (JAX) of a variable."""
    value = variable.value
    if hasattr(value, "values"):  # tf.distribute MirroredVariable
        return [(None, keras.ops.convert_to_numpy(v)) for v in value.values]
    return [(shard.index, np.asarray(shard.data)) for shard in value.addressable_shards]


def several_models(devices):
    """Four models of one architecture in one process under MirroredStrategy (D1)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 8)).astype("float32")
    y = np.arange(64) % 3
    strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(devices)])
    models = []
    with strategy.scope():
        for seed in (1, 2, 3, 4):  # int seeds, one model per seed (or fold), as in a loop
            model = keras.Sequential([
                keras.Input((8,)),
                keras.layers.Dense(16, kernel_initializer=LyapunovOrthogonal(0.01, seed=seed)),
                keras.layers.LeakyReLU(0.01),
                keras.layers.Dense(3, kernel_initializer=LyapunovOrthogonal(1.0, seed=seed + 10))])
            model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            models.append(model)

    def kernels(model):
        return [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]

    own = [fingerprints([k.value for k in kernels(m)])
           == fingerprints([keras.ops.convert_to_numpy(k.value) for k in kernels(m)])
           for m in models]
    distinct = len({tuple(fingerprints([kernels(m)[0].value])) for m in models})
    fresh_function = sample_initialization(models[0], x, y, k=3, seed=0, verbose=0)
    callback = SampledLyapunov(k=3, x=x, y=y, seed=0, verbose=0)
    models[1].fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    by_hand = [np.full(w.shape, 0.05, "float32") for w in models[2].get_weights()]
    models[2].set_weights(by_hand)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hand_result = sample_initialization(models[2], x, y, k=3, seed=0, verbose=0)
    hand_kept = all(np.array_equal(a, b) for a, b in zip(by_hand, models[2].get_weights()))
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"mirrored-{os.getpid()}.weights.h5")
    models[0].save_weights(path)
    models[3].load_weights(path)
    os.remove(path)
    loaded = models[3].get_weights()
    loaded_result = sample_initialization(models[3], x, y, k=3, seed=0, verbose=0)
    loaded_kept = all(np.array_equal(a, b) for a, b in zip(loaded, models[3].get_weights()))
    print(json.dumps({
        "devices": strategy.num_replicas_in_sync, "own_fingerprints": own,
        "distinct_fingerprints": distinct,
        "fresh_selected": [fresh_function.selected, callback.result.selected],
        "hand_skipped": hand_result.skipped is not None, "hand_kept": hand_kept,
        "hand_warned": any("did not re-sample" in str(w.message) for w in caught),
        "loaded_skipped": loaded_result.skipped is not None, "loaded_kept": loaded_kept,
    }))


def main():
    if MODE == "mirrored_models":
        return several_models(int(sys.argv[2]))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 8)).astype("float32")
    y = rng.standard_normal((64, 8)).astype("float32")
    single_result, single = fit_with_selection(build(), x, y)

    if MODE == "mirrored":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = build()
            result, _ = fit_with_selection(model, x, y)
        devices = strategy.num_replicas_in_sync
    else:
        import jax

        if MODE == "data_parallel":
            distribution = keras.distribution.DataParallel(devices=jax.devices())
        else:
            mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"],
                                                 devices=jax.devices())
            layout_map = keras.distribution.LayoutMap(mesh)
            layout_map[".*/d[0-9]+/kernel"] = (None, "model")
            distribution = keras.distribution.ModelParallel(layout_map=layout_map,
                                                            batch_dim_name="batch")
        keras.distribution.set_distribution(distribution)
        model = build()
        result, _ = fit_with_selection(model, x, y)
        devices = len(jax.devices())

    equal, count = True, 0
    for variable, reference in zip(model.weights, single):
        for index, piece in pieces(variable):
            expected = reference if index is None else reference[index]
            equal &= bool(np.array_equal(piece, expected))
            count += 1
    sharding = str(getattr(model.weights[0].value, "sharding", type(model.weights[0].value)))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    losses = model.fit(x, y, epochs=3, batch_size=32, verbose=0).history["loss"]
    print(json.dumps({
        "devices": devices, "pieces": count, "equal": equal,
        "chosen": [single_result.chosen, result.chosen],
        "selected": [single_result.selected, result.selected],
        "kernel_sharding": sharding, "losses": losses,
    }))


if __name__ == "__main__":
    main()
