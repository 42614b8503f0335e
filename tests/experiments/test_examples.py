"""Smoke tests: every example and the replication benchmark run at tiny size, as modules."""

import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def run_script(module, *args):
    """``python -m module args`` from the repository root, as the README runs it."""
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_quickstart():
    out = run_script("examples.quickstart", "--depth", "5", "--networks", "1")
    for name in ("He (Gaussian)", "LyapunovNormal", "LyapunovOrthogonal"):
        assert name in out


def test_polynomial(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "loss.png"
    out = run_script("examples.polynomial", "--seeds", "1", "--steps", "3", "--hidden", "2",
                     "--plot", str(plot))
    for label in ("Glorot", "He", "Scaled orth", "Lyap Gauss", "Lyap Orth",
                  "Sampled Lyap Gauss", "Sampled Lyap Orth"):
        assert f"| {label} |" in out
    assert "| method | step 3 | paper |" in out and plot.stat().st_size > 0


def test_score():
    out = run_script("examples.score", "--seeds", "1", "--steps", "3", "--hidden", "2",
                     "--methods", "he,scaled-orthogonal,sampled-lyapunov-normal,"
                     "sampled-lyapunov-orthogonal,lsuv")
    assert "| Sampled Lyap Orth |" in out and "| LSUV |" in out


def test_image_classification(idx_dir):
    out = run_script("examples.image_classification", "--data-dir", str(idx_dir),
                     "--epochs", "1", "--hidden", "1", "--train-size", "64")
    for label in ("He", "Lyap Orth", "Sampled Lyap Orth"):
        assert f"| {label} |" in out
    assert "| method | epoch 1 | paper |" in out


def test_replicate_quick(idx_dir, tmp_path):
    result = tmp_path / "replication.md"
    run_script("benchmarks.replicate", "--quick", "--seeds", "2", "--data-dir", str(idx_dir),
               "--out", str(result))
    text = result.read_text()
    for heading in ("## Polynomial regression", "## Score of a 2-D Gaussian mixture",
                    "## Image classification", "## The paper's claims, checked"):
        assert heading in text
    assert "| LSUV |" in text and "Command:" in text


def test_demo(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    figure = tmp_path / "demo.png"
    out = run_script("examples.demo", "--seeds", "2", "--epochs", "1", "--depth", "4",
                     "--methods", "he,lyapunov-orthogonal,sampled-lyapunov-orthogonal,lsuv",
                     "--figure", str(figure))
    assert "Signal through depth at initialization" in out
    for label in ("He", "Lyap Gauss", "Lyap Orth"):
        assert f"  {label}" in out and "predicted" in out and "measured" in out
    assert "| method | seeds that train | median test accuracy | min - max |" in out
    for label in ("He", "Lyap Orth", "Sampled Lyap Orth", "LSUV"):
        assert f"| {label} | " in out
    assert "seed 1:" in out and figure.stat().st_size > 10_000


def test_demo_rejects_bad_options_before_any_work(tmp_path):
    for args, message in [(["--seeds", "0"], "--seeds"), (["--methods", "he,nope"], "unknown"),
                          (["--figure", str(tmp_path / "missing" / "x.png")], "does not exist")]:
        out = subprocess.run([sys.executable, "-m", "examples.demo", *args], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and message in out.stderr
