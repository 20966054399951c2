"""A refused forecast changes nothing, and every bad forecast or filter input is one line."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from analysis.fit_scaling import main
from analysis.load.where import MAX_TERMS, apply_where
from contract.forecast import FORECAST_FILE, Forecast
from tests.analysis.test_forecast import isoflop_sweep

QUICK = ["--bootstrap", "20", "--workers", "1", "--quiet"]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def forecasted(tmp_path_factory):
    folder = isoflop_sweep(tmp_path_factory.mktemp("refuse") / "results" / "iso")
    assert main([str(folder), "--forecast", "4x", *QUICK]) == 0
    return folder


def test_a_refused_forecast_keeps_the_preregistrations_report(forecasted, capsys):
    fit = forecasted / "fit"
    report, forecast = (fit / "report.md").read_text(), (fit / FORECAST_FILE).read_text()
    plots = {p.name: p.stat().st_mtime_ns for p in fit.iterdir()}
    assert "## Forecast (preregistered)" in report
    capsys.readouterr()
    assert main([str(forecasted), "--forecast", "8x", *QUICK]) == 2
    assert "never overwritten" in _one_line(capsys)
    assert (fit / "report.md").read_text() == report
    assert (fit / FORECAST_FILE).read_text() == forecast
    assert {p.name: p.stat().st_mtime_ns for p in fit.iterdir()} == plots


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("1e999x", "--forecast: expected C=<FLOPs> or <k>x, got '1e999x'"),
        ("1e300x", "--forecast: 1e300x is past the range"),
        ("C=abc", "--forecast: expected C=<FLOPs> or <k>x, got 'C=abc'"),
        ("C=inf", "--forecast: C must be a positive number of FLOPs"),
    ],
)
def test_targets_that_are_not_numbers_of_flops_are_refused(tmp_path, capsys, target, expected):
    folder = isoflop_sweep(tmp_path / "iso")
    assert main([str(folder), "--forecast", target, *QUICK]) == 2
    assert expected in _one_line(capsys)
    assert not (folder / "fit").exists()


def test_a_forecast_is_never_written_through_a_link_or_over_garbage(tmp_path, capsys):
    folder = isoflop_sweep(tmp_path / "iso")
    fit, elsewhere = folder / "fit", tmp_path / "elsewhere.json"
    fit.mkdir()
    (fit / FORECAST_FILE).symlink_to(elsewhere)  # dangling
    assert main([str(folder), "--forecast", "4x", *QUICK]) == 2
    assert "symbolic link" in _one_line(capsys) and not elsewhere.exists()
    (fit / FORECAST_FILE).unlink()
    (fit / FORECAST_FILE).write_text("garbage{")
    assert main([str(folder), "--forecast", "4x", *QUICK]) == 2
    err = _one_line(capsys)
    assert f"{fit / FORECAST_FILE}: exists and is not a readable forecast" in err
    assert (fit / FORECAST_FILE).read_text() == "garbage{"


def test_a_garbage_forecast_to_score_names_the_flag_and_file(tmp_path, capsys):
    folder = isoflop_sweep(tmp_path / "iso")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"forecast_id": "x"}))
    assert main([str(folder), "--score", str(bad)]) == 2
    assert f"--score: {bad}: not a forecast" in _one_line(capsys)


def test_overflowing_sizes_are_not_fitted(tmp_path, capsys):
    rows = [
        {"N": n * 1e300, "D": d, "loss": 2.0 + 1e3 / n + 1e3 / d}
        for n in (1e6, 3e6, 1e7, 3e7)
        for d in (1e8, 1e9, 1e10)
    ]
    path = tmp_path / "huge.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert main([str(path), *QUICK]) == 2
    assert "no finished runs to fit (12 excluded)" in _one_line(capsys)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not " * 5000 + "loss < 2", "characters; a filter has at most"),
        (" or ".join(["loss < 2"] * 20000), "characters; a filter has at most"),
        (" or ".join(["loss < 2"] * (MAX_TERMS + 1)), f"more than {MAX_TERMS} comparisons"),
        ("not " * 150 + "loss < 2", "nested more than"),
        ("(" * 300 + "loss < 2" + ")" * 300, "--where"),
    ],
)
def test_huge_filters_are_refused_quickly(text, expected):
    frame = pd.DataFrame({"loss": [1.0, 2.0, 3.0]})
    start = time.monotonic()
    with pytest.raises(ValueError, match="--where") as info:
        apply_where(frame, text)
    assert expected in str(info.value) and len(str(info.value)) < 300
    assert time.monotonic() - start < 5


def test_forecast_json_is_left_alone_by_a_kept_forecast(forecasted, capsys):
    before = Forecast.from_json((forecasted / "fit" / FORECAST_FILE).read_text())
    capsys.readouterr()
    assert main([str(forecasted), "--forecast", "4x", *QUICK]) == 0
    assert "kept (already preregistered" in capsys.readouterr().out
    after = Forecast.from_json((forecasted / "fit" / FORECAST_FILE).read_text())
    assert after == before
