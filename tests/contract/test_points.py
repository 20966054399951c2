"""Which reports are scaling-law points: a run's end and each cooldown branch, nothing else."""

from __future__ import annotations

import math

from contract.metrics import (
    BRANCH_EVAL_LOSS,
    BRANCH_FLOPS,
    BRANCH_FRACTION,
    BRANCH_STEP,
    BRANCH_TOKENS,
    DONE,
    EVAL_LOSS,
    FLOPS,
    PARAMS,
    STEP,
    TOKENS,
)
from contract.points import point_row, points_columns
from contract.results import BRANCH, POINT, POINTS_COLUMNS, TRIAL_ID

REPORT = {STEP: 40, TOKENS: 4096, FLOPS: 9e9, PARAMS: 1000, EVAL_LOSS: 2.5}
BRANCH_KEYS = {
    BRANCH_FRACTION: 0.25,
    BRANCH_STEP: 10,
    BRANCH_TOKENS: 1024,
    BRANCH_FLOPS: 2e9,
    BRANCH_EVAL_LOSS: 2.9,
}


def test_an_ordinary_report_is_no_point() -> None:
    assert point_row("t", REPORT, EVAL_LOSS) is None
    assert point_row("t", {**REPORT, BRANCH_FRACTION: math.nan}, EVAL_LOSS) is None


def test_the_end_of_a_run_is_its_own_report() -> None:
    row = point_row("t", {**REPORT, DONE: 1.0}, EVAL_LOSS)
    assert row == {
        TRIAL_ID: "t",
        POINT: "t",
        BRANCH: None,
        STEP: 40,
        PARAMS: 1000,
        TOKENS: 4096,
        FLOPS: 9e9,
        EVAL_LOSS: 2.5,
    }
    assert list(row) == points_columns(EVAL_LOSS) == [*POINTS_COLUMNS, EVAL_LOSS]


def test_a_branch_is_the_point_its_cooldown_reached() -> None:
    row = point_row("t", {**REPORT, **BRANCH_KEYS}, EVAL_LOSS)
    assert row is not None and row[POINT] == "t@0.25" and row[BRANCH] == 0.25
    assert (row[STEP], row[TOKENS], row[FLOPS], row[EVAL_LOSS]) == (10, 1024, 2e9, 2.9)
    # a wsd run's end is its last branch (the trial's flops count every branch on top)
    end = point_row("t", {**REPORT, DONE: 1.0, **BRANCH_KEYS, BRANCH_FRACTION: 1.0}, EVAL_LOSS)
    assert end is not None and end[POINT] == "t@1" and end[FLOPS] == 2e9
