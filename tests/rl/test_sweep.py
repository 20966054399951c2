"""RL trials through the product: sweeps/rl_smoke.yaml on real Ray Tune + RLlib."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from contract.metrics import EPISODE_RETURN, PARAMS, TOKENS
from sweeps.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.ray
def test_rl_smoke_sweep_writes_rows_with_params_steps_and_return(ray_session, tmp_path: Path):
    assert main([str(REPO / "sweeps" / "rl_smoke.yaml"), "--storage", str(tmp_path)]) == 0
    trials = pd.read_csv(tmp_path / "rl_smoke" / "trials.csv")
    curves = pd.read_csv(tmp_path / "rl_smoke" / "curves.csv")
    assert len(trials) == 2 and set(trials["status"]) == {"TERMINATED"}
    assert (trials[TOKENS] >= 4000).all()
    assert trials[PARAMS].is_unique and (trials[PARAMS] > 0).all()
    assert all(math.isfinite(x) and x > 0 for x in trials[EPISODE_RETURN])
    assert (trials[f"best/{EPISODE_RETURN}"] >= trials[EPISODE_RETURN]).all()
    assert set(curves["trial_id"]) == set(trials["trial_id"])
    for trial_dir in (tmp_path / "rl_smoke" / "trials").iterdir():
        assert (trial_dir / "checkpoints" / "latest").is_dir()
