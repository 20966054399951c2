"""The stage loop's decision, without Ray: what a resumed sweep runs again and what it keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.results import FAILED, FINISHED, INTERRUPTED, RUNNING, STOPPED
from sweeps.folder.remaining import stage_work
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import load_spec, spec_from_dict

SMOKE = Path(__file__).resolve().parents[2] / "sweeps" / "smoke.yaml"


@pytest.fixture(scope="module")
def plan():
    return make_plan(load_spec(SMOKE))


def _rows(plan, statuses: list[str]) -> dict[str, dict]:
    return {
        t.trial_id: {"trial_id": t.trial_id, "status": s, "stage": "main"}
        for t, s in zip(plan.trials, statuses, strict=False)
    }


def test_fresh_sweep_runs_everything(plan) -> None:
    work = stage_work(plan, {}, "main", retry_failed=False)
    assert [t.trial_id for t in work.todo] == [t.trial_id for t in plan.trials]
    assert (work.done, work.remaining) == (0, len(plan.trials))


@pytest.mark.parametrize(
    ("status", "retry_failed", "runs_again"),
    [
        (FINISHED, False, False),
        (STOPPED, False, False),
        (FAILED, False, False),
        (FAILED, True, True),
        (INTERRUPTED, False, True),
        (RUNNING, False, True),  # the driver was killed while it ran
    ],
)
def test_what_runs_again(plan, status: str, retry_failed: bool, runs_again: bool) -> None:
    first = plan.trials[0].trial_id
    work = stage_work(plan, _rows(plan, [status]), "main", retry_failed)
    assert (first in {t.trial_id for t in work.todo}) is runs_again
    assert work.done + work.remaining == len(plan.trials)


def test_optuna_runs_until_num_samples_settled() -> None:
    spec = spec_from_dict(
        {
            "name": "t",
            "model": {"size": "gpt-10k"},
            "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 20000}},
            "optim": {"lr": {"loguniform": [1e-4, 1e-2]}},
            "trainer": {"max_tokens": 4096, "batch_size": 4},
            "search": {"algorithm": "optuna", "num_samples": 5},
        },
        source="<test>",
    )
    plan = make_plan(spec)
    rows = {
        "a": {"status": FINISHED, "stage": "main"},
        "b": {"status": FAILED, "stage": "main"},
        "c": {"status": FINISHED, "stage": "other"},
        "d": {"status": INTERRUPTED, "stage": "main"},
    }
    work = stage_work(plan, rows, "main", retry_failed=False)
    assert (work.todo, work.done, work.remaining) == ([], 2, 3)
    assert stage_work(plan, rows, "main", retry_failed=True).remaining == 4
