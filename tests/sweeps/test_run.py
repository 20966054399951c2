"""The sweep runner through real Ray Tune and Ray Train: smoke sweep -> result tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from contract.metrics import EVAL_LOSS, FLOPS, PARAMS, TOKENS
from contract.results import BRANCH, POINTS_FILE, TRIAL_ID, read_trial_record
from sweeps.cli import main

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.ray


def test_smoke_sweep_writes_complete_tables(ray_session, tmp_path: Path, capsys):
    assert main([str(REPO / "sweeps" / "smoke.yaml"), "--storage", str(tmp_path)]) == 0
    sweep = tmp_path / "smoke"
    trials = pd.read_csv(sweep / "trials.csv")
    curves = pd.read_csv(sweep / "curves.csv")
    assert len(trials) == 4
    assert set(trials["status"]) == {"TERMINATED"}
    assert all(math.isfinite(x) for x in trials[EVAL_LOSS])
    assert (trials[[PARAMS, TOKENS, FLOPS]] > 0).all().all()
    assert set(trials["model.size"]) == {"gpt-20k", "gpt-50k"}
    assert set(trials["data.fraction"]) == {0.5, 1.0}
    # every trial's whole curve, one row per report, data seen increasing
    assert set(curves["trial_id"]) == set(trials["trial_id"])
    for _, curve in curves.groupby("trial_id"):
        assert len(curve) >= 2 and curve[TOKENS].is_monotonic_increasing
    assert (sweep / "spec.yaml").exists()
    for trial_id in trials["trial_id"]:
        (folder,) = (sweep / "trials").glob(f"*-{trial_id}")
        assert read_trial_record(folder).trial_id == trial_id
        assert (folder / "checkpoints" / "latest").is_dir()
    # each run's end is its one scaling-law point, the same report its trials.csv row holds
    points = pd.read_csv(sweep / POINTS_FILE, dtype={TRIAL_ID: str}).set_index(TRIAL_ID)
    ends = pd.read_csv(sweep / "trials.csv", dtype={TRIAL_ID: str}).set_index(TRIAL_ID)
    assert sorted(points.index) == sorted(ends.index) and points[BRANCH].isna().all()
    pd.testing.assert_frame_equal(
        points.loc[ends.index, [TOKENS, FLOPS, EVAL_LOSS]], ends[[TOKENS, FLOPS, EVAL_LOSS]]
    )
    out = capsys.readouterr().out
    assert "4/4 done" in out

    # Running it again finds everything done and starts nothing.
    assert main([str(REPO / "sweeps" / "smoke.yaml"), "--storage", str(tmp_path)]) == 0
    assert "0 trials to run, 4 already done" in capsys.readouterr().out
    assert len(pd.read_csv(sweep / "curves.csv")) == len(curves)
    assert len(pd.read_csv(sweep / POINTS_FILE)) == len(points)


def test_optuna_with_stratified_asha_and_resume_grows_the_sample(ray_session, tmp_path: Path):
    spec = tmp_path / "opt.yaml"
    spec.write_text(
        "name: opt\n"
        "model: {size: {choice: [gpt-10k, gpt-20k]}, seq_len: 32}\n"
        "data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 60000}}\n"
        "optim: {lr: {loguniform: [1.0e-3, 1.0e-2]}}\n"
        "trainer: {batch_size: 8, max_tokens: 8192, eval_interval_steps: 8, eval_tokens: 1024}\n"
        "search: {algorithm: optuna, num_samples: 3,\n"
        "         scheduler: {type: asha, grace_tokens: 2048, stratify_by: [model.size]}}\n"
    )
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    first = pd.read_csv(tmp_path / "opt" / "trials.csv")
    assert len(first) == 3 and set(first["status"]) <= {"TERMINATED", "STOPPED"}
    lrs = first["optim.lr"]
    assert ((lrs >= 1e-3) & (lrs <= 1e-2)).all()
    assert main([str(spec), "--storage", str(tmp_path), "--set", "search.num_samples=5"]) == 0
    grown = pd.read_csv(tmp_path / "opt" / "trials.csv")
    assert len(grown) == 5  # two new, distinct trials; the first three kept as they were
    kept = grown.set_index("trial_id").loc[first["trial_id"], "status"]
    assert kept.tolist() == first["status"].tolist()
