"""What a stage of a sweep still has to run, given what its tables already settled.

The decision that makes a sweep resumable lives here as a pure function, so it is tested
without Ray: a finished or scheduler-stopped trial never runs again, a failed one only with
`retry_failed`, an interrupted or running one (a killed driver) always does, and an Optuna stage
runs until `num_samples` trials have settled.

    work = stage_work(plan, tables.trials, stage="main", retry_failed=False)
    work.todo, work.done, work.remaining
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.results import FAILED, SETTLED, STAGE, STATUS
from sweeps.plan.trials import Plan, TrialPoint


@dataclass(frozen=True)
class StageWork:
    """The trials a stage runs now and how many it already has."""

    todo: list[TrialPoint]
    """Planned trials to run (empty for Optuna, which proposes its own)."""
    done: int
    """Trials of this stage already settled by earlier runs."""
    remaining: int
    """Trials to run now (Optuna: how many more it may propose)."""


def settled_statuses(retry_failed: bool) -> set[str]:
    """Statuses that mean a trial is over for good (failed ones too, unless retried)."""
    return set(SETTLED - {FAILED}) if retry_failed else set(SETTLED)


def stage_work(
    plan: Plan, rows: Mapping[str, Mapping[str, Any]], stage: str, retry_failed: bool
) -> StageWork:
    """What is left of `plan` given the tables' rows by trial id."""
    settled = settled_statuses(retry_failed)
    if plan.adaptive:
        done = sum(1 for r in rows.values() if r.get(STATUS) in settled and r.get(STAGE) == stage)
        return StageWork([], done, max(0, plan.spec.search.num_samples - done))
    todo = [t for t in plan.trials if (rows.get(t.trial_id) or {}).get(STATUS) not in settled]
    return StageWork(todo, len(plan.trials) - len(todo), len(todo))
