"""Forecast, preregistration, scoring and the ledger, on simulated IsoFLOP sweeps."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.fit_scaling import main
from analysis.forecast import parse_target
from analysis.io import load_scaling_data
from analysis.laws import ChinchillaFit
from analysis.ledger import read_ledger
from contract.forecast import FORECAST_FILE, LEDGER_COLUMNS, LEDGER_FILE, Forecast
from contract.metrics import EVAL_LOSS, FLOPS, PARAMS, TOKENS
from contract.results import BUDGET, FINISHED, SPEC_FILE, TRIALS_FILE

LAW = ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
"""Chinchilla's published law (C = 6ND here), the truth the simulated runs are drawn from."""


def _write(folder, rows, lr=3e-3):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SPEC_FILE).write_text(
        f"name: {folder.name}\noptim:\n  lr: {lr}\nsearch:\n  metric: eval/loss\n  mode: min\n",
        encoding="utf-8",
    )
    table = pd.DataFrame(rows)
    table.to_csv(folder / TRIALS_FILE, index=False)
    return folder


def _row(i, N, C, budget, noise):
    D = C / (6 * N)
    return {
        "trial_id": f"t{i:03d}",
        "status": FINISHED,
        PARAMS: N,
        TOKENS: D,
        FLOPS: C,
        BUDGET: budget,
        EVAL_LOSS: float(LAW.predict(N, D)) * noise,
    }


def isoflop_sweep(folder, seed=0, budgets=(1e18, 1e19, 1e20, 1e21)):
    rng = np.random.default_rng(seed)
    rows = []
    for C in budgets:
        for N in float(LAW.n_opt(C)) * np.geomspace(0.2, 5.0, 7):
            rows.append(_row(len(rows), N, C, C, np.exp(rng.normal(0, 0.003))))
    return _write(folder, rows)


def forecast_run(folder, forecast: Forecast, neighbours=(1.0,), noise=1.0):
    C = forecast.target_flops
    rows = [_row(i, forecast.n_star.value * f, C, C, noise) for i, f in enumerate(neighbours)]
    return _write(folder, rows)


@pytest.fixture()
def sweep(tmp_path):
    return isoflop_sweep(tmp_path / "results" / "iso")


def _forecast(sweep, capsys, target="10x", *extra):
    code = main([str(sweep), "--forecast", target, "--bootstrap", "60", "--quiet", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return Forecast.from_json((sweep / "fit" / FORECAST_FILE).read_text()), out


def test_parse_target_absolute_and_relative(sweep):
    data = load_scaling_data(sweep)
    assert parse_target("C=3e22", data) == 3e22
    assert parse_target("10x", data) == pytest.approx(1e22)  # the largest nominal budget
    for bad in ("10", "C=-1", "N=1e9", "0x"):
        with pytest.raises(ValueError, match="--forecast"):
            parse_target(bad, data)


def test_forecast_is_written_with_intervals_provenance_and_a_report(sweep, capsys):
    f, out = _forecast(sweep, capsys)
    C = 1e22
    assert f.target_flops == pytest.approx(C)
    assert f.chosen == "isoflop" and "isoflop" in f.reason
    assert f.n_star.value == pytest.approx(float(LAW.n_opt(C)), rel=0.25)
    truth = float(LAW.loss_opt(C))
    assert f.loss.lo95 <= truth <= f.loss.hi95
    assert f.loss.lo95 < f.loss.lo80 < f.loss.value < f.loss.hi80 < f.loss.hi95
    assert set(f.alternatives) >= {"isoflop", "envelope", "approach3", "loss_interval"}
    assert f.hyperparameters == {"optim.lr": 3e-3}
    assert len(f.provenance["rows_hash"]) == 16 and f.provenance["commit"]
    report = (sweep / "fit" / "report.md").read_text()
    assert "## Forecast (preregistered)" in report and f.forecast_id in report
    assert "wrote" in out.out and "forecast.json" in out.out


def test_forecast_is_never_overwritten(sweep, capsys):
    first, _ = _forecast(sweep, capsys)
    text = (sweep / "fit" / FORECAST_FILE).read_text()
    again, out = _forecast(sweep, capsys)  # same target, same rows: kept, not rewritten
    assert "kept" in out.out and (sweep / "fit" / FORECAST_FILE).read_text() == text
    code = main([str(sweep), "--forecast", "C=5e22", "--bootstrap", "20", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "never overwritten" in err and len(err.strip().splitlines()) == 1
    assert (sweep / "fit" / FORECAST_FILE).read_text() == text


def test_score_appends_one_ledger_row_and_draws_the_plot(sweep, tmp_path, capsys):
    f, _ = _forecast(sweep, capsys, "4x")
    truth = float(LAW.predict(f.n_star.value, f.target_flops / (6 * f.n_star.value)))
    run = forecast_run(tmp_path / "results" / "run", f, neighbours=(0.5, 1.0, 2.0))
    assert main([str(run), "--score", str(sweep / "fit" / FORECAST_FILE)]) == 0
    out = capsys.readouterr().out
    ledger = read_ledger(tmp_path / "results" / LEDGER_FILE)
    assert tuple(ledger.columns) == LEDGER_COLUMNS and len(ledger) == 1
    row = ledger.iloc[0]
    assert row["forecast_id"] == f.forecast_id and row["realised_loss"] == pytest.approx(truth)
    assert row["error_pct"] == pytest.approx(100 * (truth - f.loss.value) / f.loss.value)
    assert bool(row["inside95"]) and bool(row["best_of_budget"])
    assert "inside 95 %: True" in out and "was best" in out
    assert (tmp_path / "results" / "forecasts.png").stat().st_size > 0
    # scoring the same run again does not add a second row
    assert main([str(run), "--score", str(sweep / "fit" / FORECAST_FILE)]) == 0
    assert len(read_ledger(tmp_path / "results" / LEDGER_FILE)) == 1


def test_a_miss_is_recorded_as_outside(sweep, tmp_path, capsys):
    f, _ = _forecast(sweep, capsys, "4x")
    run = forecast_run(tmp_path / "results" / "bad", f, noise=1.2)
    assert main([str(run), "--score", str(sweep / "fit" / FORECAST_FILE)]) == 0
    row = read_ledger(tmp_path / "results" / LEDGER_FILE).iloc[0]
    assert not bool(row["inside95"]) and row["error_pct"] > 10


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--score", "nope.json"], "no such forecast file"),
        (["--forecast", "ten"], "--forecast: expected"),
    ],
)
def test_bad_forecast_inputs_are_one_line(sweep, argv, expected, capsys):
    assert main([str(sweep), *argv, "--bootstrap", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_forecast_json_is_plain_json(sweep, capsys):
    _forecast(sweep, capsys)
    raw = json.loads((sweep / "fit" / FORECAST_FILE).read_text())
    assert raw["n_star"]["lo95"] > 0 and raw["shape"] == {}
