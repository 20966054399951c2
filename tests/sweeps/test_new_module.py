"""`python -m sweeps.new`, run as the docs print it: the module's own entry point, not its
imported `main` (which the console script and the other tests call)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from contract.forecast import FORECAST_FILE
from tests.sweeps.forecast_record import FORECAST_RECORD
from tests.sweeps.test_forecast_loop import _source_sweep

REPO = Path(__file__).resolve().parents[2]


def test_new_forecast_run_as_a_module(tmp_path: Path):
    source = _source_sweep(tmp_path / "results" / "grid")
    (source / "fit").mkdir()
    (source / "fit" / FORECAST_FILE).write_text(json.dumps(dict(FORECAST_RECORD, source="grid")))
    out = tmp_path / "big.yaml"
    argv = ["big", "--forecast", str(source / "fit" / FORECAST_FILE), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "sweeps.new", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert yaml.safe_load(out.read_text())["compute"]["budgets"] == [4e10]
