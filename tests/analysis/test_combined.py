"""Several sweep folders fitted together: the points pool, each run stays one resampling unit,
and folders that measure different things are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.fit_scaling import main
from analysis.laws.forms import ChinchillaFit
from analysis.load.combined import load_sources
from contract.results import BUDGET, SPEC_FILE, TRIALS_FILE

LAW = ChinchillaFit(E=0.82, A=42.8, alpha=0.4665, B=315.5, beta=0.4543)


def write_sweep(folder: Path, budgets: list[float], metric: str = "eval/loss", seed: int = 0):
    """A finished compute sweep folder: 5 sizes per budget, C = 6ND, losses from LAW."""
    rng = np.random.default_rng(seed)
    rows = []
    for budget in budgets:
        n_star = (budget / 6 / 20) ** 0.5
        for k, n in enumerate(n_star * np.geomspace(0.3, 3.0, 5)):
            d = budget / (6 * n)
            loss = float(LAW.predict(n, d) * np.exp(rng.normal(0, 0.002)))
            row = {"trial_id": f"{folder.name}-{budget:.0e}-{k}", "stage": "main"}
            row |= {"status": "TERMINATED", BUDGET: budget, "params": n, "tokens": d}
            rows.append({**row, "flops": 6 * n * d, metric: loss})
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / TRIALS_FILE, index=False)
    spec = {"name": folder.name, "search": {"metric": metric, "mode": "min"}}
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder


def test_two_folders_are_fitted_as_one(tmp_path: Path, capsys):
    first = write_sweep(tmp_path / "grid", [1e11, 2e11, 4e11])
    second = write_sweep(tmp_path / "next", [8e11, 1.6e12], seed=1)
    data = load_sources([first, second])
    assert len(data.points) == 25 and data.points["run_id"].nunique() == 25
    assert data.source == f"{first} + {second}"
    out = tmp_path / "fit.json"
    argv = [str(first), str(second), "--law", "chinchilla", "--bootstrap", "0"]
    assert main([*argv, "--holdout-largest", "0", "--json", str(out), "--quiet"]) == 0
    fit = json.loads(out.read_text())
    assert fit["n_points"] == 25 and fit["chinchilla"]["n_points"] == 25
    assert fit["chinchilla"]["alpha"]["value"] == pytest.approx(LAW.alpha, abs=0.05)
    assert "grid + " in capsys.readouterr().out


def test_folders_that_measure_different_things_or_repeat_are_refused(tmp_path: Path, capsys):
    first = write_sweep(tmp_path / "grid", [1e11, 2e11, 4e11])
    other = write_sweep(tmp_path / "acc", [8e11], metric="eval/accuracy")
    assert main([str(first), str(other), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "measures eval/accuracy (min) but" in err and len(err.splitlines()) == 1
    assert main([str(first), str(first), "--quiet"]) == 2
    assert "given twice" in capsys.readouterr().err
    assert main([str(first), str(other), "--score", str(tmp_path / "f.json")]) == 2
    assert "--score" in capsys.readouterr().err
