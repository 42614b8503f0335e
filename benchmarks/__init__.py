"""Benchmarks and studies: they measure the library through its public interface.

The internal interfaces they may use are ``keras_lyapunov._scores`` and
``keras_lyapunov._trials`` (the selection's scores and trials, documented
there); results go to :data:`RESULTS` (:func:`write_report`). Run them
as modules from the repository root (``python -m benchmarks.selection``).
Importing this package first sets the experiments' environment (quiet logs,
JAX when installed, an explicit KERAS_BACKEND wins) before any script imports Keras.
"""

import datetime
import json
import os
import platform
import subprocess
import sys

import experiments.environment  # noqa: F401

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def write_report(name, lines):
    """Prints a report's lines and writes them to ``RESULTS/name``."""
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(RESULTS, name), "w") as handle:
        handle.write(text)


def run_fresh(code, arguments, backend):
    """Runs ``code`` in a fresh Python process on ``backend``; its last stdout line as JSON.

    The repository root is on the child's path, TensorFlow's logs are quiet, and a
    failing child raises ``subprocess.CalledProcessError``.
    """
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code, *map(str, arguments)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_line(command):
    """The line under a report's title: the date, the machine and the command that made it."""
    return (f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}. Command: `{command}`.")
