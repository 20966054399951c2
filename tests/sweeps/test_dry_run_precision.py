"""The dry-run of a compute sweep prints the design's expected precision and the warnings to
expect (simulated from a prior law through the real analysis); a pipeline's sizes its forecast
run from the prior's N*, tokens needed against held."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweeps.cli import main
from sweeps.plan.precision import design_points
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
LOOP = {
    "name": "loop",
    "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "order": 1, "num_tokens": 420_000}},
    "model": {"seq_len": 32},
    "trainer": {"batch_size": 8, "eval_tokens": 2048},
    "stages": [
        {"name": "grid", "compute": {"budgets": [3e9, 1e10, 3e10], "sizes": [1e4, 2.5e4, 6e4]}},
        {
            "name": "forecast",
            "from": {"forecast": "grid", "target": "10x"},
            "search": {"seeds": [0, 1]},  # N* twice, scored by the two seeds' mean
        },
    ],
}


def test_points_are_each_trial_end_and_branch():
    plan = make_plan(load_spec(ROOT / "sweeps/compute_smoke.yaml"))
    rows = design_points(plan)
    assert len(rows) == len(plan.trials) == 6  # no cooldowns: one point per run
    assert {r["budget"] for r in rows} == {2e10, 5e10}


def test_compute_dry_run_prints_expected_precision(capsys):
    spec = str(ROOT / "sweeps/compute_smoke.yaml")
    assert main([spec, "--dry-run", "--noise", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "estimated wall time" in out
    assert "expected precision at the forecast target C=2e+11" in out  # 4x the largest budget
    assert "prior the main job's own fit" in out and "noise 1.00% per run" in out
    assert "chinchilla: a " in out and "warnings to expect" in out


def test_pipeline_dry_run_sizes_the_forecast_run(tmp_path: Path, capsys):
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(LOOP))
    assert main([str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "== stage grid ==" in out and "== stage forecast ==" in out
    assert "expected precision at the forecast target C=3e+11" in out
    # 400k synthetic tokens hold less than the run at 3e11 needs, and the grid may not
    # repeat data: the dry-run says so, and how to give it more
    assert "training tokens, the data holds" in out and "never repeated silently" in out
    assert out.count("training tokens, the data holds") == 1  # once per size, not per seed
    assert "sweep loop: 2 trials" in out.split("== stage forecast ==")[1]
    assert "tests_bytes" in out and "pipeline: estimated wall time" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--noise", "0.01"], "--noise: only with --dry-run"),
        (["--dry-run", "--noise", "1.5"], "--noise: expected a fraction"),
        (["--dry-run", "--prior", "/no/such/sweep"], "--prior: /no/such/sweep: no such sweep"),
    ],
)
def test_bad_flags_are_one_line(argv, message, capsys):
    assert main([str(ROOT / "sweeps/compute_smoke.yaml"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_lone_trial_is_not_slowed_as_if_it_shared_the_machine():
    from sweeps.plan import walltime

    plan = make_plan(load_spec(ROOT / "sweeps/compute_smoke.yaml"))
    lone = plan.__class__(spec=plan.spec, trials=plan.trials[:1], notes=[])
    cost = walltime.StepCost(0.01, 1e10, 1, "test")
    est = walltime.estimate(lone, cost, slots=2)
    assert est.slots == 1
    assert est.total_s == walltime.RAY_START_S + walltime.trial_seconds(lone.trials[0], cost)


def test_a_prior_optimum_below_the_smallest_model_is_sized_at_it(tmp_path: Path, capsys):
    """Budgets so small that the prior law's N* at the target is under the shape rule's
    smallest model: the dry-run sizes the forecast run there and says so, rather than fail."""
    tiny = {
        **LOOP,
        "stages": [
            {"name": "grid", "compute": {"budgets": [4e8, 8e8, 1.6e9], "sizes": [6e3, 1.2e4]}},
            {"name": "forecast", "from": {"forecast": "grid", "target": "2x"}},
        ],
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny))
    assert main([str(path), "--dry-run", "--noise", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "forecast run sized at 2,000 parameters, the smallest model" in out
    assert "pipeline: estimated wall time" in out
