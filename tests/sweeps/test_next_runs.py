"""`python -m sweeps.new NAME --propose <sweep>`: the next runs of a finished compute sweep,
chosen by the analysis from the sweep's own fit, written as a sweep that plans and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.laws.forms import ChinchillaFit
from contract.results import BUDGET, FINISHED, SPEC_FILE, TRIALS_FILE
from sweeps.new import main
from sweeps.plan import next_runs
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import load_spec, spec_from_dict

LAW = ChinchillaFit(E=0.82, A=42.8, alpha=0.4665, B=315.5, beta=0.4543)
GRID = {
    "compute": {
        "budgets": [2e10, 4e10, 8e10, 1.6e11],
        "sizes": {"auto": {"per_budget": 4, "tokens_per_param": [4, 80]}},
    },
    "model": {"seq_len": 32},
    "data": {
        "dataset": {"type": "synthetic", "vocab_size": 32, "order": 2, "num_tokens": 4_000_000}
    },
    "optim": {"lr": 3e-3},
    "trainer": {"batch_size": 16, "eval_tokens": 1024},
}


def finished_sweep(folder: Path, pipeline: bool) -> Path:
    """A finished compute sweep (or a pipeline's grid stage) with losses from LAW, 1 % noise."""
    spec = spec_from_dict({"name": folder.name, **GRID}, source="grid.yaml")
    rng = np.random.default_rng(0)
    rows = []
    for t in make_plan(spec).trials:
        loss = float(LAW.predict(t.params, t.tokens) * np.exp(rng.normal(0, 0.01)))
        rows.append(
            {
                "trial_id": t.trial_id,
                "stage": "grid" if pipeline else "main",
                "status": FINISHED,
                BUDGET: t.assignment[BUDGET],
                "model.params": t.assignment["model.params"],
                "params": t.params,
                "tokens": t.tokens,
                "flops": t.flops,
                "eval/loss": loss,
                "wall_s": t.flops / 1e9,
            }
        )
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / TRIALS_FILE, index=False)
    raw = spec.to_dict()
    if pipeline:
        trial = {k: v for k, v in raw.items() if k != "compute"}
        raw = {**trial, "stages": [{"name": "grid", "compute": raw["compute"]}]}
    (folder / SPEC_FILE).write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize("pipeline", [False, True], ids=["sweep", "pipeline"])
def test_the_proposal_is_a_sweep_that_plans_with_its_expected_widths(
    tmp_path: Path, monkeypatch, capsys, pipeline: bool
):
    # The design check's widths once (its least, 2 replicates a design); linearised for a pipeline.
    monkeypatch.setattr(next_runs, "SIMULATION_S", 0.0 if pipeline else 0.5)
    folder = finished_sweep(tmp_path / "results" / "grid", pipeline)
    out = tmp_path / "grid-next.yaml"
    argv = ["grid-next", "--propose", str(folder), "--target", "4x", "--flops", "3e11"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert "expected 95 % width of the predicted loss" in text and "C=6.4e+11" in text
    if pipeline:
        assert "Widths: linearised about the fit" in text
    else:
        assert "expected 95 % width of a:" in text and "over 2 and 2 noisy replicates" in text
    assert ("--where" in text) == pipeline
    spec = load_spec(out)
    assert spec.search.seeds == [1]  # a repeat of a run is a run of its own
    assert str(spec.run.storage) == str(folder.parent)
    placed = spec.compute.sizes_by_budget
    assert set(placed) == set(spec.compute.budgets) and placed
    plan = make_plan(spec)
    assert plan.trials and sum(t.flops for t in plan.trials) <= 3e11 * 1.03
    assert spec.base.optim.lr == 3e-3 and spec.base.model.seq_len == 32


def test_bad_proposals_are_one_line_errors(tmp_path: Path, capsys):
    folder = finished_sweep(tmp_path / "grid", pipeline=False)
    cases = [
        (["x", "--propose", str(tmp_path / "nope")], "is not a folder"),
        (["x", "--from", "sweeps/compute_smoke.yaml", "--minutes", "5"], "only with --propose"),
        (["x", "--propose", str(folder), "--target", "big"], "--target"),
        (["x", "--propose", str(folder), "--flops", "-1"], "--flops: must be positive"),
        (["grid", "--propose", str(folder)], "a name of its own"),
    ]
    for argv, message in cases:
        assert main([*argv, "--out", str(tmp_path / "x.yaml")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.yaml").exists()


def test_the_proposal_keeps_the_sweeps_analysis_section(tmp_path: Path, monkeypatch, capsys):
    """Runs proposed for a sweep whose fits start Approach 3 at 10 tokens per parameter are
    fitted the same way, on their own and together with the sweep."""
    monkeypatch.setattr(next_runs, "SIMULATION_S", 0.0)
    folder = finished_sweep(tmp_path / "results" / "grid", pipeline=False)
    raw = yaml.safe_load((folder / SPEC_FILE).read_text())
    raw["analysis"] = {"approach3_min_tokens_per_param": 10}
    (folder / SPEC_FILE).write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    out = tmp_path / "grid-next.yaml"
    argv = ["grid-next", "--propose", str(folder), "--target", "4x", "--flops", "3e11"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    assert load_spec(out).analysis.approach3_min_tokens_per_param == 10
