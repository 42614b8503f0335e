"""Lyapunov initializers and SampledLyapunov under Keras's distribution mechanisms.

Each case runs tests/distributed_check.py in a subprocess (devices are set up
before the backend starts) and checks that every replica or shard ends with
exactly the weights of a single-device run with the same seeds, and that
training proceeds after selection.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_check.py")


def run(mode, *args):
    out = subprocess.run([sys.executable, SCRIPT, mode, *args], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def check(report, devices):
    assert report["devices"] == devices
    assert report["selected"] == [True, True]
    assert report["chosen"][0] == report["chosen"][1]
    assert report["equal"], report
    losses = report["losses"]
    assert all(map(lambda v: v == v and abs(v) < 1e6, losses)) and losses[-1] < losses[0]


needs_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="tf.distribute.MirroredStrategy is TensorFlow's; runs in the TensorFlow pass")
needs_jax = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="keras.distribution runs on JAX here; runs in the JAX pass")


@needs_tensorflow
def test_mirrored_strategy_over_two_cpus():
    report = run("mirrored")
    check(report, devices=2)
    assert report["pieces"] == 2 * 20  # 20 weights, mirrored on 2 replicas


@needs_tensorflow
@pytest.mark.parametrize("devices", [1, 2])
def test_several_models_in_one_process_each_fingerprinted_as_itself(devices):
    # Reliability round 3, D1: a compiled fingerprint shared by the process once captured
    # the first model's MirroredVariables, so later models were judged by its weights.
    report = run("mirrored_models", str(devices))
    assert report["devices"] == devices
    assert report["own_fingerprints"] == [True] * 4 and report["distinct_fingerprints"] == 4
    assert report["fresh_selected"] == [True, True]  # the function, and the callback in fit
    assert report["hand_skipped"] and report["hand_kept"] and report["hand_warned"]
    assert report["loaded_skipped"] and report["loaded_kept"]


@needs_jax
def test_data_parallel_over_two_host_devices():
    report = run("data_parallel")
    check(report, devices=2)
    assert report["pieces"] == 2 * 20  # every weight replicated on both devices
    assert "'model'" not in report["kernel_sharding"]


@needs_jax
def test_model_parallel_with_sharded_kernels():
    report = run("model_parallel")
    check(report, devices=2)
    assert report["pieces"] == 2 * 20  # kernels split in halves, biases replicated
    assert "'model'" in report["kernel_sharding"]  # kernels stay sharded after selection
