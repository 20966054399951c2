"""Which reports are scaling-law points, and the points.csv row each one makes.

A run is a point at its end; a wsd run is one at the end of each cooldown branch
(contract.metrics.POINT_METRICS), its last branch being its end. The runner writes these rows as
the reports come in and the analysis fits them, so the rule lives here, below both; a sweep
folder written before points.csv existed gets the same rows from its curves.csv.

    row = point_row("3f9a0c21d4", report, metric="eval/loss")
    if row is not None:
        append(sweep / POINTS_FILE, row, columns=points_columns("eval/loss"))
"""

from __future__ import annotations

import math
from typing import Any

from contract.metrics import (
    BRANCH_FLOPS,
    BRANCH_FRACTION,
    BRANCH_STEP,
    BRANCH_TOKENS,
    DONE,
    FLOPS,
    PARAMS,
    STEP,
    TOKENS,
    branch_metric,
)
from contract.results import BRANCH, POINT, POINTS_COLUMNS, TRIAL_ID


def points_columns(metric: str) -> list[str]:
    """The header of a sweep's points.csv: the fixed columns, then the sweep's metric."""
    return [*POINTS_COLUMNS, metric]


def _number(value: Any) -> float | None:
    """A finite number, or None for a missing key, an empty CSV cell or NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def point_id(trial_id: str, branch: float | None) -> str:
    """A point's id: the trial's for a run's end, `<trial_id>@<fraction>` for a branch."""
    return trial_id if branch is None else f"{trial_id}@{branch:g}"


def branch_point(trial_id: str, report: dict[str, Any], metric: str) -> dict[str, Any] | None:
    """The point of a report that ends a cooldown branch (None for any other report): the
    branch's own step, tokens, FLOPs and metric, which a separate run to its D would have."""
    fraction = _number(report.get(BRANCH_FRACTION))
    if fraction is None or fraction <= 0:
        return None
    return {
        TRIAL_ID: trial_id,
        POINT: point_id(trial_id, fraction),
        BRANCH: fraction,
        STEP: report.get(BRANCH_STEP),
        PARAMS: report.get(PARAMS),
        TOKENS: report.get(BRANCH_TOKENS),
        FLOPS: report.get(BRANCH_FLOPS),
        metric: report.get(branch_metric(metric)),
    }


def point_row(trial_id: str, report: dict[str, Any], metric: str) -> dict[str, Any] | None:
    """The points.csv row of a report, or None when the report is no scaling-law point.

    A branch's report gives the branch's point (the 1.0 branch is a wsd run's end); the report
    that ends a full budget without branches gives the run's own step, tokens, FLOPs and metric.
    """
    branch = branch_point(trial_id, report, metric)
    if branch is not None or not report.get(DONE):
        return branch
    return {
        TRIAL_ID: trial_id,
        POINT: point_id(trial_id, None),
        BRANCH: None,
        STEP: report.get(STEP),
        PARAMS: report.get(PARAMS),
        TOKENS: report.get(TOKENS),
        FLOPS: report.get(FLOPS),
        metric: report.get(metric),
    }
