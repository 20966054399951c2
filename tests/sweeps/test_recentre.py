"""Adaptive compute sweeps (`compute.recentre`): later budgets' sizes are placed on the N* fitted
to the finished points, a resumed sweep re-plans nothing that ran, the plan as run is recorded."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.laws.forms import ChinchillaFit, ComputeModel
from contract.results import BUDGET, FINISHED, INTERRUPTED, SPEC_FILE, TRIALS_FILE
from sweeps.cli import main
from sweeps.errors import SpecError
from sweeps.folder.remaining import stage_work
from sweeps.plan import recentre
from sweeps.plan.trials import make_plan, render_plan
from sweeps.spec.sweep_spec import spec_from_dict
from sweeps.stages.pipeline import pipeline_from_dict

LAW = ChinchillaFit(E=0.82, A=42.8, alpha=0.4665, B=315.5, beta=0.4543)
"""Approach 3 on the main job: the truth the simulated losses come from."""
RAW = {
    "name": "adaptive",
    "compute": {
        "budgets": [2e10, 4e10, 8e10, 1.6e11],
        "sizes": {"auto": {"per_budget": 4, "tokens_per_param": [5, 300]}},
        "recentre": True,
        "min_steps": 5,
        "repeat_data": True,  # a small corpus plans fast; the largest budget reads it twice
    },
    "model": {"seq_len": 32},
    "data": {
        "dataset": {"type": "synthetic", "vocab_size": 32, "order": 2, "num_tokens": 1_000_000}
    },
    "optim": {"lr": 3e-3},
    "trainer": {"batch_size": 4, "eval_tokens": 1024},
}


class Tables:
    """The runner's tables as the rounds see them: rows by trial id, written to trials.csv."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.trials = folder, {}

    def run(self, plan, law: ChinchillaFit | None = LAW, status: str = FINISHED) -> None:
        """Run the plan's own budget (the budgets before it ride along, already settled)."""
        for t in _own(plan):
            row = {
                "trial_id": t.trial_id,
                "stage": "main",
                "status": status,
                BUDGET: t.assignment[BUDGET],
                "model.params": t.assignment["model.params"],
                "params": t.params,
                "tokens": t.tokens,
                "flops": t.flops,
            }
            if law is not None and status == FINISHED:
                row["eval/loss"] = float(law.predict(t.params, t.tokens))
            self.trials[t.trial_id] = row
        pd.DataFrame(list(self.trials.values())).to_csv(self.folder / TRIALS_FILE, index=False)


def _spec(**compute):
    raw = {**RAW, "compute": {**RAW["compute"], **compute}}
    return spec_from_dict(raw, source="adaptive.yaml")


def _own(plan) -> list:
    budget = max(t.assignment[BUDGET] for t in plan.trials)
    return [t for t in plan.trials if t.assignment[BUDGET] == budget]


def _sizes(plan) -> list[float]:
    return sorted(t.assignment["model.params"] for t in _own(plan))


def test_centred_sizes_cover_the_interval_and_at_least_three_tenths_of_a_decade():
    sizes = recentre.centred_sizes(1e5, 9e4, 1.2e5, per_budget=5, widest=100.0)
    assert sizes[0] == pytest.approx(1e5 / 10**0.3, rel=0.01)
    assert sizes[-1] == pytest.approx(1e5 * 10**0.3, rel=0.01)
    wide = recentre.centred_sizes(1e5, 1e4, 8e5, per_budget=5, widest=100.0)
    assert wide[0] == pytest.approx(1e4, rel=0.01) and wide[-1] == pytest.approx(8e5, rel=0.01)
    steps = np.diff(np.log(wide))
    assert np.allclose(steps, steps[0], rtol=0.01)
    # An interval wider than the initial plan's span: the fit knows less than the plan did.
    assert recentre.centred_sizes(1e5, 1e3, 1e7, per_budget=5, widest=100.0) is None


def test_recentring_places_later_budgets_around_a_known_laws_optimum(tmp_path, monkeypatch):
    monkeypatch.setattr(recentre, "FIT_RESAMPLES", 40)
    spec = _spec()
    tables = Tables(tmp_path)
    placed = {}
    rounds = recentre.stage_rounds(make_plan(spec), tables, tmp_path, "main", spec)
    for plan in rounds:
        budget = _own(plan)[0].assignment[BUDGET]
        placed[budget] = plan
        tables.run(plan)
    ran = pd.DataFrame(list(tables.trials.values()))
    compute = ComputeModel.estimate(ran["params"], ran["tokens"], ran["flops"])
    truth = LAW._replace(compute=compute)
    initial = make_plan(spec)
    for budget in spec.compute.budgets[2:]:  # placed once two budgets had finished
        sizes, n_star = _sizes(placed[budget]), float(truth.n_opt(budget))
        assert len(sizes) == 4 and sizes[0] < n_star < sizes[-1]
        centre = math.exp(np.mean(np.log(sizes)))
        assert abs(math.log10(centre / n_star)) < 0.1, (budget, sizes, n_star)
        assert sizes != _sizes(recentre.budget_plan(initial.spec, budget))
    recorded = yaml.safe_load((tmp_path / SPEC_FILE).read_text())["compute"]["sizes_by_budget"]
    assert {float(b): s for b, s in recorded.items()} == {b: _sizes(p) for b, p in placed.items()}


def test_resume_replans_nothing_that_ran(tmp_path, monkeypatch):
    spec = _spec()
    calls = []

    def fake_fit(sweep_dir, stage, budgets):
        calls.append(list(budgets))
        return {b: (3e4, 2.5e4, 3.6e4) for b in budgets}, "10 points"

    monkeypatch.setattr(recentre, "fit_optima", fake_fit)
    tables = Tables(tmp_path)
    rounds = recentre.stage_rounds(make_plan(spec), tables, tmp_path, "main", spec)
    first, second, third = next(rounds), next(rounds), next(rounds)
    tables.run(first)
    tables.run(second)
    tables.run(third, status=INTERRUPTED)  # the driver was killed during the third budget
    tables.trials[_own(third)[0].trial_id]["status"] = FINISHED
    ran = {_own(p)[0].assignment[BUDGET]: _sizes(p) for p in (first, second, third)}

    calls.clear()
    tables.trials["gone"] = {"stage": "main", "status": FINISHED, BUDGET: 1e10, "model.params": 7e3}
    again = list(recentre.stage_rounds(make_plan(spec), tables, tmp_path, "main", spec))
    recorded = yaml.safe_load((tmp_path / SPEC_FILE).read_text())["compute"]["sizes_by_budget"]
    assert len(recorded) == 4  # the four budgets of the spec; a row of a dropped one stays out
    for plan in again[:3]:
        assert _sizes(plan) == ran[_own(plan)[0].assignment[BUDGET]]
    assert stage_work(again[1], tables.trials, "main", False).remaining == 0
    left = stage_work(again[2], tables.trials, "main", False)
    assert (
        left.remaining == len(_own(third)) - 1 and left.done == len(third.trials) - left.remaining
    )
    assert calls == [[1.6e11]]  # only the budget that never started is placed by a fit


def test_a_pipeline_stage_records_its_placed_sizes_in_the_stages_file(tmp_path):
    body = {k: v for k, v in RAW.items() if k not in ("name", "compute")}
    raw = {"name": "piped", **body, "stages": [{"name": "grid", "compute": RAW["compute"]}]}
    pipeline = pipeline_from_dict(raw, source="piped.yaml")
    spec = recentre.with_sizes(pipeline.stages[0].spec, {2e10: [6e3, 1.2e4]})
    recentre.record(tmp_path, pipeline, "grid", spec)
    written = yaml.safe_load((tmp_path / SPEC_FILE).read_text())
    stage = written["stages"][0]
    assert stage["compute"]["sizes_by_budget"] == {"20000000000.0": [6e3, 1.2e4]}
    assert stage["compute"]["recentre"] is True and "sizes_by_budget" not in raw["stages"][0]
    again = pipeline_from_dict(written, source="spec.yaml")
    assert again.fingerprint() == pipeline.fingerprint()  # the folder still resumes


def test_recentre_needs_auto_sizes_and_placed_budgets_must_be_budgets():
    with pytest.raises(SpecError, match="compute.recentre"):
        _spec(sizes=[1e4, 3e4])
    with pytest.raises(SpecError, match="compute.sizes_by_budget"):
        _spec(sizes_by_budget={3e10: [1e4]})


def test_dry_run_says_the_sweep_is_adaptive_and_shows_the_initial_plan():
    plan = make_plan(_spec())
    text = render_plan(plan)
    assert "compute.recentre: adaptive" in text and "initial plan" in text
    assert f"sweep adaptive: {len(plan.trials)} trials" in text and len(plan.trials) > 12


@pytest.mark.ray
def test_an_adaptive_sweep_runs_budget_by_budget_records_its_plan_and_resumes(
    ray_session, tmp_path: Path, capsys
):
    path = tmp_path / "adaptive.yaml"
    raw = {**RAW, "compute": {**RAW["compute"], "budgets": [1e10, 2e10]}}
    raw["compute"]["sizes"] = {"auto": {"per_budget": 3, "tokens_per_param": [4, 60]}}
    raw["trainer"] = {"batch_size": 16, "eval_tokens": 1024}
    raw["optim"] = {"lr": 3e-3, "schedule": "wsd", "cooldowns": [0.5, 1.0]}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    storage = tmp_path / "results"
    assert main([str(path), "--storage", str(storage)]) == 0
    out = capsys.readouterr().out
    assert out.count(" trials to run, ") == 2  # one Tuner per budget
    assert "compute.recentre: C=2e+10" in out  # placed from the first budget's two points a run
    folder = storage / "adaptive"
    trials = pd.read_csv(folder / TRIALS_FILE)
    assert set(trials["status"]) == {FINISHED} and trials[BUDGET].nunique() == 2
    ran = trials.groupby(BUDGET)["model.params"].apply(sorted).to_dict()
    recorded = yaml.safe_load((folder / SPEC_FILE).read_text())["compute"]["sizes_by_budget"]
    assert {float(b): s for b, s in recorded.items()} == ran
    assert main([str(path), "--storage", str(storage), "--resume"]) == 0
    out = capsys.readouterr().out
    assert out.count(" 0 trials to run, ") == 2
    assert "fitted" not in out  # every budget had started: nothing is placed again
    assert len(pd.read_csv(folder / TRIALS_FILE)) == len(trials)
