"""A planned trial's process receives its resolved config (not the spec) and validates it once,
and a sweep starts its largest trials first."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.plan.trials import largest_first, make_plan, trial_id
from sweeps.spec.sweep_spec import load_spec
from sweeps.tune.trainable import trial_config as _trial_config
from sweeps.tune.trainable import trial_payload as _payload

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
PLANNED = [
    p
    for p in sorted(SWEEPS.glob("*.yaml"))
    if "stages:" not in p.read_text() and "algorithm: optuna" not in p.read_text()
]


@pytest.mark.parametrize("path", PLANNED, ids=lambda p: p.name)
def test_payload_round_trips_to_the_same_trial(path: Path) -> None:
    plan = make_plan(load_spec(path))
    for point in plan.trials[:6]:
        payload = _payload(point)
        assert "spec" not in payload
        rebuilt = _trial_config(payload)
        assert rebuilt == point.config
        assert trial_id(rebuilt) == point.trial_id


def test_largest_planned_compute_starts_first() -> None:
    plan = make_plan(load_spec(SWEEPS / "smoke.yaml"))
    ordered = largest_first(plan.trials)
    flops = [t.flops for t in ordered]
    assert flops == sorted(flops, reverse=True)
    assert {t.trial_id for t in ordered} == {t.trial_id for t in plan.trials}
