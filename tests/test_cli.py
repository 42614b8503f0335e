"""python -m keras_lyapunov table."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

from keras_lyapunov import cli, theory

COLUMNS = ("width,lambda_unit_normal,mean_log_norm_normal,lambda_he,lambda_orthogonal_he,"
           "sigma_he,sigma_crit,eta_crit,std_normal,std_orthogonal").split(",")


def run_cli(capsys, *args):
    assert cli.main(list(args)) == 0
    return capsys.readouterr().out


def test_csv_columns_and_default_widths(capsys):
    rows = list(csv.reader(io.StringIO(run_cli(capsys, "table", "--slope", "0.01"))))
    assert rows[0] == COLUMNS
    assert [int(r[0]) for r in rows[1:]] == list(theory.PAPER_WIDTHS)
    assert len(rows) == 36


def test_values_match_the_paper_table(capsys, reference_dir):
    out = run_cli(capsys, "table", "--slope", "0.1")
    ours = list(csv.DictReader(io.StringIO(out)))
    with open(reference_dir / "paper_table_d3_slope0.1.csv") as f:
        paper = list(csv.DictReader(f))
    pairs = {"lambda_unit_normal": "I_unit_gaussian",
             "mean_log_norm_normal": "E_log_norm_gaussian_vector",
             "lambda_he": "lambda_he", "lambda_orthogonal_he": "lambda_orthogonal_he_gain",
             "sigma_he": "sigma_he", "sigma_crit": "sigma_crit", "eta_crit": "eta_crit"}
    for row, ref in zip(ours, paper, strict=True):
        for column, ref_column in pairs.items():
            assert abs(float(row[column]) - float(ref[ref_column])) < 1.5e-7


def test_std_columns_and_widths_option(capsys):
    out = run_cli(capsys, "table", "--slope", "0.01", "--widths", "1,2,10,100")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["width"]) for r in rows] == [1, 2, 10, 100]
    ten = rows[2]
    assert abs(float(ten["std_normal"]) - 0.479) < 5e-4  # docs/theory.md section 4
    assert abs(float(ten["std_orthogonal"]) - 0.418) < 5e-4
    assert abs(float(ten["lambda_he"]) + 0.157) < 5e-4
    np.testing.assert_allclose(float(ten["sigma_crit"]), theory.critical_scale(10, 0.01),
                               rtol=1e-9)


def test_markdown(capsys):
    out = run_cli(capsys, "table", "--slope", "0.2", "--widths", "3,4", "--format", "markdown")
    lines = out.strip().splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert len(lines) == 4 and lines[2].startswith("| 3 |")


@pytest.mark.parametrize("args,message", [
    (["table", "--slope", "0"], "minus infinity"),
    (["table", "--slope", "nan"], "finite"),
    (["table", "--slope", "0.1", "--widths", "0,3"], "--widths"),
    (["table", "--slope", "0.1", "--widths", "a"], "widths"),
    (["table"], "--slope"),
    (["table", "--slope", "0.1", "--digits", "-1"], "--digits must be an integer from 1 to 17"),
    (["table", "--slope", "0.1", "--digits", "0"], "--digits must be an integer from 1 to 17"),
    (["report", "--digits", "-1"], "--digits must be an integer from 0 to 15"),
])
def test_errors(capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_explains_every_column():
    out = subprocess.run([sys.executable, "-m", "keras_lyapunov", "table", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for column in COLUMNS:
        assert column in out


def test_module_entry_point_prints_csv():
    out = subprocess.run(
        [sys.executable, "-m", "keras_lyapunov", "table", "--slope", "0.01", "--widths", "10"],
        capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == ",".join(COLUMNS)
    assert out.splitlines()[1].startswith("10,")


def test_docstring_examples_hold():
    import doctest

    failures, tried = doctest.testmod(cli)
    assert tried >= 1 and failures == 0


def test_report_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "signal.png"
    assert cli.main(["report", "--width", "4", "--depth", "6", "--slope", "0.1", "--samples", "4",
                 "--probes", "2", "--init", "lyapunov-orthogonal", "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "6 x Dense(4) + LeakyReLU(0.1)" in out and "pred mean" in out
    assert out.count("LyapunovOrthogonal") >= 6
    for label in ("He (Gaussian)", "Lyapunov (Gaussian)", "Sampled Lyapunov (normal): k ="):
        assert label in out
    assert figure.stat().st_size > 10_000


def test_report_defaults_to_kerass_dense_initializer(capsys):
    assert cli.main(["report", "--width", "3", "--depth", "2", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "GlorotUniform" in out and "estimated" in out


@pytest.mark.parametrize("argv", [
    ["report", "--samples", "1"], ["report", "--width", "0"], ["report", "--depth", "x"],
    ["report", "--slope", "0"], ["report", "--init", "uniform"],
])
def test_report_rejects_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert "--" in capsys.readouterr().err


def test_report_refuses_what_cannot_finish_before_any_work(monkeypatch, tmp_path, capsys):
    def no_work(*args):
        raise AssertionError("the report started computing")

    monkeypatch.setattr(cli, "_report", no_work)
    cases = [
        (["report", "--width", "100000"], "GiB of memory"),
        (["report", "--plot", str(tmp_path / "missing" / "figure.png")], "does not exist"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    monkeypatch.setattr(cli.importlib.util, "find_spec",
                        lambda name: None if name == "matplotlib" else True)
    with pytest.raises(SystemExit):
        cli.main(["report", "--plot", str(tmp_path / "figure.png")])
    assert "needs matplotlib" in capsys.readouterr().err
    monkeypatch.setattr(cli, "_available_memory", lambda: 2**20)  # 1 MiB free
    with pytest.raises(SystemExit):
        cli.main(["report", "--width", "100", "--depth", "100"])
    assert "GiB are available" in capsys.readouterr().err


def test_the_initializer_choices_are_the_registry():
    from keras_lyapunov.baselines import INITIALIZERS

    assert sorted(cli.INITIALIZER_NAMES) == sorted(INITIALIZERS)
