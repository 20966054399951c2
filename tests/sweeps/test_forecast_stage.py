"""A forecast stage learns what the fit found from the files it wrote, not from its printed lines.

The fit runs in a child process; here a stand-in for `analysis/fit_scaling.py` writes the files
the real one writes (forecast.json, a ledger row) and prints lines that must not reach the
user, so a stage that relayed or parsed the child's output fails these tests.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from contract.forecast import FORECAST_FILE, LEDGER_COLUMNS, LEDGER_FILE, Forecast, score_row
from sweeps.errors import SpecError
from sweeps.stages import forecast_stage
from tests.sweeps.forecast_record import FORECAST_RECORD

FORECAST = {**FORECAST_RECORD, "forecast_id": "f00d", "source": "grid"}
NOISE = "wrote 9 plots and forecast 0000: predicted 9.9999 (child's own words)"


def _ledger_text(run: str, realised: float) -> str:
    row = score_row(Forecast.from_json(json.dumps(FORECAST)), realised, "2026-12-07T00:00:00Z", run)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(LEDGER_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerow(row)
    return buffer.getvalue()


def _fake_fit(tmp_path: Path, monkeypatch, ledger: str = "", fail: str = "") -> None:
    """Point the stage at a stand-in fit that writes forecast.json (--forecast) or the ledger
    at the sweep folder's parent (--score), prints NOISE, and fails with `fail` if given."""
    script = tmp_path / "fake_fit.py"
    script.write_text(
        "import pathlib, sys\n"
        "args = sys.argv[1:]\n"
        f"print({NOISE!r})\n"
        f"if {bool(fail)!r}:\n"
        f"    print('fit_scaling: error: ' + {fail!r}, file=sys.stderr)\n"
        "    sys.exit(2)\n"
        "if '--forecast' in args:\n"
        "    out = pathlib.Path(args[args.index('--out') + 1])\n"
        "    out.mkdir(parents=True, exist_ok=True)\n"
        f"    (out / {FORECAST_FILE!r}).write_text({json.dumps(FORECAST)!r})\n"
        "else:\n"
        f"    (pathlib.Path(args[0]).parent / {LEDGER_FILE!r}).write_text({ledger!r})\n"
    )
    monkeypatch.setattr(forecast_stage, "FIT_SCRIPT", script)


def test_the_preregistered_forecast_is_read_from_its_json(tmp_path: Path, monkeypatch, capsys):
    _fake_fit(tmp_path, monkeypatch)
    sweep, out = tmp_path / "pipe", tmp_path / "pipe" / "forecast-forecast"
    forecast = forecast_stage.ensure_forecast(sweep, "grid", "4x", out)
    printed = capsys.readouterr().out
    assert forecast.forecast_id == "f00d" and NOISE not in printed
    assert printed.startswith(f"forecast f00d preregistered in {out / FORECAST_FILE}: C=4e+10")
    assert "N*=2e+04 (isoflop), loss 2.0000 (95 %: 1.8000-2.2000)" in printed
    # resumed: the preregistered forecast is read again, the fit does not run or print
    _fake_fit(tmp_path, monkeypatch, fail="must not run")
    assert forecast_stage.ensure_forecast(sweep, "grid", "4x", out) == forecast
    assert capsys.readouterr().out == ""


def test_the_score_is_read_back_from_the_ledger(tmp_path: Path, monkeypatch, capsys):
    sweep, out = tmp_path / "pipe", tmp_path / "pipe" / "forecast-forecast"
    out.mkdir(parents=True)
    (out / FORECAST_FILE).write_text(json.dumps(FORECAST))
    _fake_fit(tmp_path, monkeypatch, ledger=_ledger_text("pipe/abc123", realised=2.05))
    lines = forecast_stage.score(sweep, "forecast", out)
    printed = capsys.readouterr().out
    assert lines == [
        "forecast f00d: predicted 2.0000 (95 %: 1.8000-2.2000), realised 2.0500, "
        "error +2.50 %, inside 80 %: True, inside 95 %: True"
    ]  # no neighbours: the empty best_of_budget cell adds nothing
    assert NOISE not in printed and f"scored into {tmp_path / LEDGER_FILE}" in printed


def test_a_score_of_another_sweeps_run_is_not_this_stages(tmp_path: Path, monkeypatch):
    sweep, out = tmp_path / "pipe", tmp_path / "pipe" / "forecast-forecast"
    out.mkdir(parents=True)
    (out / FORECAST_FILE).write_text(json.dumps(FORECAST))
    _fake_fit(tmp_path, monkeypatch, ledger=_ledger_text("elsewhere/abc123", realised=2.05))
    with pytest.raises(SpecError, match=r"^score of stage forecast: .*has no row of f00d"):
        forecast_stage.score(sweep, "forecast", out)


def test_a_refused_fit_is_its_one_line(tmp_path: Path, monkeypatch):
    _fake_fit(tmp_path, monkeypatch, fail="no finished runs to fit (3 excluded)")
    with pytest.raises(SpecError) as err:
        forecast_stage.ensure_forecast(tmp_path / "pipe", "grid", "4x", tmp_path / "out")
    assert str(err.value) == (
        "forecast from stage grid: fit_scaling: error: no finished runs to fit (3 excluded)"
    )
