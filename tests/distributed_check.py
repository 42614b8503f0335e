"""Runs Lyapunov initialization and sampled selection under a distribution.

Used by tests/test_distribution.py in a subprocess, because devices must be
configured before the backend starts:

    python tests/distributed_check.py mirrored|data_parallel|model_parallel

Prints one JSON line: whether every replica / shard of every weight equals a
single-device run with the same seeds, the chosen candidates, how the kernels
are sharded, and the training losses after selection.
"""

import json
import os
import sys
import warnings

MODE = sys.argv[1]
os.environ["KERAS_BACKEND"] = "tensorflow" if MODE == "mirrored" else "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if MODE != "mirrored":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
warnings.simplefilter("ignore")

if MODE == "mirrored":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_lyapunov import LyapunovNormal, LyapunovOrthogonal, SampledLyapunov  # noqa: E402


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


def main():
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
