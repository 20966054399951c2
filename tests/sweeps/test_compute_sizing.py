"""Auto sizes bisect on counts, not on validated configs; a trial's budget is a typed field.

The counts `size_counts` gives for a probed size must be exactly what a validated trial config
of that size counts (or the bisection would place different sizes), for every task a compute
sweep takes and with the YAML's model overrides kept; planning validates one config per trial
point, not one per probe.
"""

from __future__ import annotations

import copy
import math

import pytest

from contract.results import BUDGET
from models.shapes import MIN_PARAMS
from sweeps.errors import SpecError
from sweeps.plan import compute
from sweeps.plan.trials import make_plan, make_trial
from sweeps.spec.sweep_spec import SweepSpec, spec_from_dict

SYNTHETIC = {"type": "synthetic", "vocab_size": 32, "order": 2, "num_tokens": 1_000_000}
AUTO = {
    "name": "auto",
    "compute": {"budgets": [2e10, 5e10], "sizes": {"auto": {"per_budget": 4}}},
    "model": {"seq_len": 64},
    "data": {"dataset": SYNTHETIC},
    "trainer": {"batch_size": 8, "eval_tokens": 4096},
}
VARIANTS = {
    "lm": {},
    "lm-overrides": {"model": {"seq_len": 32, "tie_embeddings": True, "n_layers": 3}},
    "mlm": {"task": {"type": "mlm"}, "model": {"seq_len": 64, "causal": False}},
    "classify": {"task": {"type": "classify", "num_classes": 3, "num_sequences": 512}},
}


def _spec(**sections) -> SweepSpec:
    raw = copy.deepcopy(AUTO)
    raw.update(copy.deepcopy(sections))
    return spec_from_dict(raw, source="auto.yaml")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_size_counts_equal_a_validated_configs_counts_at_every_size(variant):
    spec = _spec(**VARIANTS[variant])
    counts = compute.size_counts(spec, {})
    for params in (MIN_PARAMS, 3.3e3, 1.2e4, 7.7e4, 4.1e5, 2.9e6, 5.0e7):
        cfg = spec.trial_config({"model.params": params})
        expected = (cfg.model_config_resolved().num_params, cfg.counts()[2])
        assert counts(params) == expected, params


def test_auto_sizes_validate_one_config_per_trial_point_not_per_probe(monkeypatch):
    spec = _spec(
        compute={**AUTO["compute"], "budgets": [2e11, 5e11]},
        data={"dataset": {**SYNTHETIC, "num_tokens": 8_000_000}},
        search={"seeds": [0, 1]},
    )
    calls = []
    validate = SweepSpec.trial_config
    monkeypatch.setattr(
        SweepSpec, "trial_config", lambda self, a: calls.append(a) or validate(self, a)
    )
    plan = make_plan(spec)
    assert len(plan.trials) == 16 and not plan.notes
    # Each trial: once as a size of its budget, once as the trial; plus one config per point of
    # the other axes (two seeds) that the probes' counts start from. A bisection validating its
    # probes would make 2 points x 2 budgets x 2 ends x 48 steps = 384 more.
    assert len(calls) == 2 * len(plan.trials) + 2


def test_budget_is_a_typed_field_and_the_assignment_keeps_its_column():
    plan = make_plan(_spec())
    for t in plan.trials:
        assert t.budget in (2e10, 5e10)
        assert BUDGET not in t.swept and "budget" not in t.config.model_dump()
        assert t.assignment == {**t.swept, BUDGET: t.budget}
        assert abs(t.flops / t.budget - 1) <= 0.02
        assert t.tag.startswith("C" + f"{t.budget:.2g}".replace("+", "") + "_")
    with pytest.raises(SpecError, match=r"budget"):
        plan.spec.trial_config({BUDGET: 2e10})


def test_a_later_stages_assignment_with_a_budget_column_becomes_the_typed_field():
    spec = _spec()
    first = make_plan(spec).trials[0]
    again = make_trial(spec, first.assignment)  # as a pipeline stage builds it from a row
    assert again.budget == first.budget and again.swept == first.swept
    assert again.trial_id == first.trial_id and again.tag == first.tag


def test_budget_column_stands_before_the_epochs_that_repeat_data_adds():
    tiny = {**SYNTHETIC, "num_tokens": 20_000}
    spec = _spec(data={"dataset": tiny}, compute={**AUTO["compute"], "repeat_data": True})
    repeated = [t for t in make_plan(spec).trials if "trainer.epochs" in t.swept]
    assert repeated
    for t in repeated:
        assert list(t.assignment)[-3:] == ["trainer.max_tokens", BUDGET, "trainer.epochs"]
        assert math.isclose(t.assignment[BUDGET], t.budget)
