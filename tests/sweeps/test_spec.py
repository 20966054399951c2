"""Spec loading: YAML + overrides -> typed, frozen SweepSpec; axes; identity; schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from sweeps.cli import main
from sweeps.plan.trials import make_plan
from sweeps.spec.schema import spec_json_schema
from sweeps.spec.sweep_spec import load_spec, read_yaml, spec_from_dict
from sweeps.stages.pipeline import estimate_plan, is_pipeline, load_pipeline
from trainers.config import TrialConfig

SWEEPS = sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*.yaml"))

BASE = {
    "name": "t",
    "model": {"size": "gpt-20k"},
    "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 20000}},
    "trainer": {"max_tokens": 4096, "batch_size": 4},
}


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_every_sweep_yaml_loads_and_expands(path: Path):
    if is_pipeline(read_yaml(path)):
        plans, upstream = [], None
        for stage in load_pipeline(path).stages:
            upstream = estimate_plan(stage, upstream)
            plans.append(upstream)
    else:
        plans = [make_plan(load_spec(path))]
    for plan in plans:
        assert plan.trials, path
        assert all(t.params > 0 and t.tokens > 0 and t.flops > 0 for t in plan.trials)


def test_sweep_yamls_exist():
    names = {p.name for p in SWEEPS}
    assert {"smoke.yaml", "scaling.yaml", "data_scaling.yaml", "compute_smoke.yaml"} <= names


def test_data_scaling_yaml_is_a_real_size_by_fraction_grid():
    plan = make_plan(load_spec(SWEEPS[0].parent / "data_scaling.yaml"))
    params = {t.params for t in plan.trials}
    fractions = {t.config.data.fraction for t in plan.trials}
    assert len(plan.trials) >= 15
    assert len(params) >= 5 and max(params) / min(params) >= 100
    assert len(fractions) >= 3


def test_spec_is_frozen_and_typed():
    spec = spec_from_dict(BASE)
    assert isinstance(spec.base, TrialConfig)
    with pytest.raises(ValidationError):
        spec.base.optim.lr = 1.0


def test_overrides_validate_like_the_file(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(BASE))
    spec = load_spec(path, ["optim.lr=0.01", "model.size={grid: [gpt-20k, gpt-50k]}"])
    assert spec.base.optim.lr == 0.01
    assert spec.axes["model.size"].values == ("gpt-20k", "gpt-50k")


def test_grid_times_seeds_and_random_samples_are_reproducible():
    raw = {
        **BASE,
        "model": {"size": {"grid": ["gpt-20k", "gpt-50k"]}},
        "optim": {"lr": {"loguniform": [1e-4, 1e-2]}, "weight_decay": {"choice": [0.0, 0.1]}},
        "search": {"algorithm": "random", "num_samples": 3, "seeds": [0, 1]},
    }
    first, second = make_plan(spec_from_dict(raw)), make_plan(spec_from_dict(raw))
    assert len(first.trials) == 2 * 2 * 3
    assert [t.trial_id for t in first.trials] == [t.trial_id for t in second.trials]
    lrs = [t.config.optim.lr for t in first.trials]
    assert all(1e-4 <= lr <= 1e-2 for lr in lrs) and len(set(lrs)) > 1
    assert {t.config.seed for t in first.trials} == {0, 1}


def test_grid_enumerates_choice_and_randint_needs_sampling():
    raw = {**BASE, "optim": {"weight_decay": {"choice": [0.0, 0.1, 0.2]}}}
    assert len(make_plan(spec_from_dict(raw)).trials) == 3


def test_trial_identity_is_the_config_hash():
    a = make_plan(spec_from_dict(BASE)).trials[0]
    b = make_plan(spec_from_dict({**BASE, "description": "same trial, other words"})).trials[0]
    c = make_plan(spec_from_dict({**BASE, "optim": {"lr": 0.01}})).trials[0]
    assert a.trial_id == b.trial_id != c.trial_id
    assert a.dirname.startswith("gpt-20k") and a.trial_id in a.dirname


def test_fingerprint_ignores_grid_values_but_not_other_fields():
    grid = {**BASE, "model": {"size": {"grid": ["gpt-20k"]}}}
    grown = {**BASE, "model": {"size": {"grid": ["gpt-20k", "gpt-50k"]}}}
    changed = {**grid, "optim": {"lr": 0.02}}
    fp = spec_from_dict(grid).fingerprint()
    assert fp == spec_from_dict(grown).fingerprint()
    assert fp != spec_from_dict(changed).fingerprint()


def test_resolved_spec_round_trips():
    raw = {**BASE, "model": {"size": {"grid": ["gpt-20k", "gpt-50k"]}}}
    spec = spec_from_dict(raw)
    again = spec_from_dict(spec.to_dict())
    assert again.fingerprint() == spec.fingerprint()
    assert [t.trial_id for t in make_plan(again).trials] == [
        t.trial_id for t in make_plan(spec).trials
    ]


def test_schema_is_json_and_offers_axes(capsys):
    schema = spec_json_schema()
    assert {"model", "data", "optim", "trainer", "search", "resources", "compute"} <= set(
        schema["properties"]
    )
    assert "tokens_per_param" in json.dumps(schema["$defs"]["AutoSizes"])
    assert main(["--schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "anyOf" in json.dumps(printed["$defs"]["OptimConfig"]["properties"]["lr"])


def test_dry_run_prints_the_trial_table(capsys):
    assert main([str(SWEEPS[0].parent / "data_scaling.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    rows = [
        line
        for line in out.splitlines()
        if line.startswith(
            ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f")
        )
    ]
    assert len(rows) >= 15
    assert "params" in out and "tokens" in out and "flops" in out
    assert "training FLOPs" in out
