"""The command line end to end: sweep folders, published CSVs, outputs and user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.fit_scaling import main

REPO = Path(__file__).parents[2]
EPOCH_COLUMNS = "N=Model Size,C=Training FLOP,loss=loss"


def test_sweep_folder_end_to_end(sweep_dir, tmp_path, capsys):
    out, js = tmp_path / "out", tmp_path / "fit" / "fit.json"
    argv = [
        str(sweep_dir),
        "--bootstrap",
        "12",
        "--workers",
        "1",
        "--predict",
        "N=1e9,D=2e10",
        "C=1e21",
        "--out",
        str(out),
        "--json",
        str(js),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert (
        "chinchilla: Chinchilla Approach 3" in printed
        and "wrote 6 plots (PNG, SVG, PDF)" in printed
    )
    result = json.loads(js.read_text())
    for key in ("E", "A", "B", "alpha", "beta", "a", "b"):
        assert set(result["chinchilla"][key]) == {"value", "lo", "hi", "se", "identified"}
    assert result["bootstrap"]["n_resamples"] == 12
    assert {"N": 1e9, "D": 2e10, "quantity": "loss"}.items() <= result["chinchilla"]["predictions"][
        0
    ].items()
    assert any(e["id"] == "oom" and "CUDA out of memory" in e["reason"] for e in result["excluded"])
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert (
        len(pngs) == 6 and len(list(out.glob("*.svg"))) == 6 and len(list(out.glob("*.pdf"))) == 6
    )
    report = (out / "report.md").read_text()
    assert all(f"]({name})" in report for name in pngs)


def test_published_chinchilla_csv_with_column_mapping(epoch_csv, tmp_path, capsys):
    js = tmp_path / "fit.json"
    # loss < 3.44 drops exactly the 5 highest losses, as in Epoch's refit.
    argv = [
        str(epoch_csv),
        "--columns",
        EPOCH_COLUMNS,
        "--where",
        "loss < 3.44",
        "--law",
        "chinchilla",
        "--bootstrap",
        "0",
        "--predict",
        "C=1e24",
        "--json",
        str(js),
    ]
    assert main(argv) == 0
    result = json.loads(js.read_text())
    chin = result["chinchilla"]
    assert result["n_points"] == 240 and chin["n_points"] == 240
    assert abs(chin["alpha"]["value"] - 0.3478) < 0.02 and abs(chin["E"]["value"] - 1.8172) < 0.03
    assert chin["alpha"]["lo"] is None  # no bootstrap: no interval, and still valid JSON
    assert chin["backtest"]["n_holdout"] == 24 and chin["backtest"]["key"] == "C"
    assert {p["quantity"] for p in chin["predictions"]} >= {"N_opt", "tokens_per_param"}
    assert "backtest: refit without the 24 largest-C runs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["{tmp}/missing"], "missing: no such file or folder"),
        (["{tmp}"], "not a sweep folder (no trials.csv) and not a CSV/parquet file"),
        (["{sweep}", "--columns", "N=Model Size"], "--columns: no column 'Model Size'"),
        (["{sweep}", "--columns", "Q=x"], "--columns: unknown key 'Q'"),
        (["{sweep}", "--where", "params >"], "--where 'params >'"),
        (["{sweep}", "--predict", "N=big"], "--predict: N='big' is not a number"),
        (["{sweep}", "--holdout-largest", "2.5"], "--holdout-largest: 2.5"),
        (["{sweep}", "--bootstrap", "-1"], "--bootstrap must be >= 0"),
        (["{sweep}", "--law", "cubic"], "argument --law: invalid choice: 'cubic'"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(argv, expected, sweep_dir, tmp_path, capsys):
    args = [a.format(tmp=tmp_path, sweep=sweep_dir) for a in argv]
    try:
        status = main(args)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], captured.err


def test_runs_as_a_script_from_the_repo_root(sweep_dir):
    cmd = [
        sys.executable,
        "analysis/fit_scaling.py",
        str(sweep_dir),
        "--law",
        "power",
        "--bootstrap",
        "0",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "power: power law" in proc.stdout and "Traceback" not in proc.stderr


def _csv(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


RISING = "N,D,loss\n" + "".join(
    f"{n:g},{d:g},{2 + 0.1 * i + 0.01 * j}\n"
    for i, n in enumerate((1e6, 1e7, 1e8, 1e9))
    for j, d in enumerate((1e8, 1e9, 1e10))
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("N,D,loss\n1e6,1e9,3\n", "N takes a single value"),
        ("N,D,loss\n1e6,1e9,3\n1e7,1e10,2.5\n", "need at least"),
        ("N,D,loss\n1e6,1e8,3\n1e7,1e9,3\n1e8,1e10,3\n1e9,1e11,3\n", "same loss"),
        ("D,loss\n1e6,3\n1e7,2.5\n1e8,2.2\n", "no N values"),
        (RISING, "loss does not fall as N grows"),
    ],
)
def test_nothing_fitted_is_an_error_never_ok(text, expected, tmp_path, capsys):
    status = main([_csv(tmp_path, "t.csv", text), "--bootstrap", "0", "--quiet"])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == "" and "OK" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "nothing could be fitted" in lines[0] and expected in lines[0]


def test_bootstrap_zero_with_every_law(sweep_dir, capsys):
    assert main([str(sweep_dir), "--bootstrap", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "chinchilla:" in out and "envelope:" in out and "compute:" in out
