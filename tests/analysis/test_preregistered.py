"""A fit of a sweep folder shows the forecasts preregistered in it and, once the ledger has
them, their scores (the main job's fit command says how its own forecast fared)."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.forecast.ledger import append_row, preregistered
from contract.forecast import FORECAST_FILE, LEDGER_FILE, Forecast, score_row

_IV = {"value": 1.30, "lo80": 1.28, "hi80": 1.32, "lo95": 1.27, "hi95": 1.33}
FORECAST = {
    "forecast_id": "f00d",
    "source": "",
    "metric": "eval/loss",
    "target_flops": 1.6e13,
    "chosen": "isoflop",
    "reason": "",
    "n_star": {**_IV, "value": 2.5e5},
    "d_star": _IV,
    "loss": _IV,
    "shape": {},
    "hyperparameters": {},
    "provenance": {},
}


def test_forecast_then_its_score(tmp_path: Path):
    sweep = tmp_path / "scaling"
    (sweep / "forecast-forecast").mkdir(parents=True)
    (sweep / "forecast-forecast" / FORECAST_FILE).write_text(json.dumps(FORECAST))
    lines = preregistered(sweep)
    assert lines[0].startswith("preregistered forecast f00d (forecast-forecast/): C=1.6e+13")
    assert "loss 1.3000 (95 %: 1.2700-1.3300)" in lines[0]
    assert lines[1] == "  not scored yet: its run has not finished"
    forecast = Forecast.from_json(json.dumps(FORECAST))
    append_row(tmp_path / LEDGER_FILE, score_row(forecast, 1.31, "now", run="scaling/x"))
    lines = preregistered(sweep)
    assert lines[1].startswith("  scored: forecast f00d: predicted 1.3000")
    assert "realised 1.3100" in lines[1] and "inside 95 %: True" in lines[1]
    assert "best of its budget" not in lines[1]  # no neighbours ran: the ledger's cell is empty


def test_a_table_or_a_folder_without_forecasts_adds_nothing(tmp_path: Path):
    assert preregistered(tmp_path / "trials.csv") == [] and preregistered(tmp_path) == []
