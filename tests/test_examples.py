"""Smoke tests: every example runs at tiny size."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(name, *args):
    out = subprocess.run([sys.executable, os.path.join(REPO, "examples", name), *args],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_quickstart():
    out = run_example("quickstart.py", "--depth", "5", "--networks", "1")
    for name in ("He (Gaussian)", "LyapunovNormal", "LyapunovOrthogonal"):
        assert name in out
