"""Result files, trial statuses, table columns and the trial-folder layout of a sweep folder.

The runner writes these, the analysis and later stages read them; both import the names from
here, so a renamed file, column or status cannot leave one side behind (a test fails on a
column name spelled out as a string anywhere else).

    from contract.results import STATUS, TRIALS_FILE, FINISHED, best_column, read_trial_record
    rows = [r for r in read(sweep / TRIALS_FILE) if r[STATUS] == FINISHED]
    model = read_trial_record(trial_dir)["config"]["model"]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contract.metrics import (
    FLOPS,
    PARAMS,
    PARAMS_TOTAL,
    POINT_METRICS,
    STANDARD_METRICS,
    STEP,
    THROUGHPUT_METRICS,
    TOKENS,
)

# Files at the top of a sweep folder `<storage>/<name>/`.
TRIALS_FILE = "trials.csv"
"""One row per trial: identity, status, swept values, counts, final and best metric."""
CURVES_FILE = "curves.csv"
"""One row per report of every trial: the learning curves."""
POINTS_FILE = "points.csv"
"""One row per scaling-law point: each run's end and each of its cooldown branches."""
SPEC_FILE = "spec.yaml"
"""The fully resolved spec the sweep ran with."""
TRIALS_DIR = "trials"
"""Folder holding one sub-folder per trial, named `<tag>-<trial_id>`."""

# Inside a trial folder `<sweep>/trials/<tag>-<trial_id>/`.
CHECKPOINTS_DIR = "checkpoints"
ERROR_FILE = "error.txt"
"""Why the trial's last attempt failed (absent when it did not)."""
ATTEMPTS_FILE = "attempts.log"
"""One line per attempt of the trial, appended by the runner."""
ROW_FILE = "row.json"
"""The trial's trials.csv row as of its last end: a damaged table is rebuilt from these."""
CONFIG_FILE = "config.json"
"""The trial's record, written as each attempt starts: `trial_id`, `assignment` (the swept
values), `config` (the validated trial config as JSON) and `resources`."""

# Trial statuses in trials.csv (Ray Tune's words, so Tune's own tables read the same).
FINISHED = "TERMINATED"
"""Ran its full budget."""
STOPPED = "STOPPED"
"""Ended early by the scheduler (ASHA) before its budget."""
FAILED = "ERROR"
SETTLED = frozenset({FINISHED, STOPPED, FAILED})
"""Statuses after which a trial never runs again (a failed one only when retried on request)."""
RUNNING = "RUNNING"
PENDING = "PENDING"
INTERRUPTED = "INTERRUPTED"
"""Stopped by Ctrl-C or SIGTERM of the sweep; a resume runs it again."""

# Columns of trials.csv besides the metrics and the swept values.
TRIAL_ID = "trial_id"
"""A trial's identity (a hash of its point); curves.csv and points.csv rows carry it too."""
TAG = "tag"
STAGE = "stage"
STATUS = "status"
ID_COLUMNS: tuple[str, ...] = (TRIAL_ID, TAG, STAGE, STATUS)
ERROR = "error"
"""Why a failed trial failed, one line (empty otherwise)."""
WALL_S = "wall_s"
"""Seconds from the trial's start to its last report or end, over all its attempts."""
FULL_RUN = "done"
"""1 once the trial reported the end of its full budget (contract.metrics.DONE)."""
MODEL_SIZE = "model.size"
"""The model's size label: the swept key's own dotted path, so a swept and a fixed size read
the same column."""
DATA_FRACTION = "data.fraction"
"""Fraction of the dataset a trial trains on (the swept key's dotted path, as MODEL_SIZE)."""
TOKENS_PLANNED = "tokens_planned"
"""Tokens the plan gives the trial (the `tokens` column is what it saw)."""
FLOPS_PLANNED = "flops_planned"
"""Training FLOPs of the planned tokens (contract.compute.training_flops)."""
BUDGET = "budget"
"""Nominal training-FLOP budget of a compute sweep's trial (its IsoFLOP group)."""
RUN_ID = "run_id"
"""Rows that are points of one run (cooldown branches, checkpoints) share it."""
NODE = "node"
"""IP of the node a trial last reported from: where a multi-node sweep ran it, and where a
trial retried after a node was lost moved to."""
RETRIES = "retries"
"""Times the trial's process died (its node lost, the process killed) and Tune started it again
from its latest checkpoint (`run.max_failures` allows it); empty when it never was."""
RETRIED_AFTER = "retried_after"
"""Why the trial's last restart was needed, one line (e.g. its node died); empty otherwise."""
PLAN_COLUMNS: tuple[str, ...] = (
    MODEL_SIZE,
    DATA_FRACTION,
    PARAMS,
    PARAMS_TOTAL,
    TOKENS_PLANNED,
    FLOPS_PLANNED,
)
"""Columns a trial's row has from its plan, before it reports."""
TRIALS_COLUMNS: tuple[str, ...] = (
    *ID_COLUMNS,
    *PLAN_COLUMNS,
    *STANDARD_METRICS,
    *THROUGHPUT_METRICS,
    ERROR,
    WALL_S,
    FULL_RUN,
    NODE,
    RETRIES,
    RETRIED_AFTER,
    BUDGET,
    RUN_ID,
)
"""Every named column of trials.csv; the swept values (dotted spec paths), a later stage's
upstream.* columns and `best/<metric>` (best_column) come on top."""
CURVES_COLUMNS: tuple[str, ...] = (TRIAL_ID, *STANDARD_METRICS, *POINT_METRICS)
"""Columns every curves.csv has, in order; a report's other `/`-scoped metrics follow."""

# Columns of points.csv besides the trial's metrics at the point (same names as trials.csv's).
POINT = "point"
"""The point's id: the trial id for a run's end, `<trial_id>@<fraction>` for a branch."""
BRANCH = "branch"
"""Fraction (0-1] of the run's token budget where a cooldown branch ended; empty for the end
of a run without branches."""
POINTS_COLUMNS: tuple[str, ...] = (TRIAL_ID, POINT, BRANCH, STEP, PARAMS, TOKENS, FLOPS)
"""The fixed columns of points.csv, in order; the sweep's metric follows (contract.points)."""


def best_column(metric: str) -> str:
    """Column of trials.csv holding the best value a trial reached of `metric`."""
    return f"best/{metric}"


def trial_folder_name(tag: str, trial_id: str) -> str:
    """A trial's folder name: a short readable tag plus the id that is its identity."""
    return f"{tag}-{trial_id}"


def find_trial_dir(sweep_dir: Path, trial_id: str) -> Path | None:
    """The folder of `trial_id` in a sweep folder, whatever its tag; None if it has none."""
    return next((Path(sweep_dir) / TRIALS_DIR).glob(f"*-{trial_id}"), None)


def trial_checkpoints(trial_dir: Path) -> Path:
    """Where a trial keeps its checkpoints (latest/, best/, final/)."""
    return Path(trial_dir) / CHECKPOINTS_DIR


@dataclass(frozen=True)
class TrialRecord:
    """What a trial's config.json says: written as each attempt starts, read by a later stage
    that starts from the trial, a continuation and the forecast ledger."""

    trial_id: str
    assignment: dict[str, Any]
    """The swept values (dotted spec paths) that made the trial."""
    config: dict[str, Any]
    """The validated trial config as JSON (`model`, `trainer`, `optim`, ...)."""
    resources: dict[str, Any]


def read_trial_record(trial_dir: Path) -> TrialRecord:
    """A trial's record (config.json): the one reader, so its layout changes in one place.

    Raises FileNotFoundError when the trial has none and ValueError naming the file when it is
    not a record.
    """
    path = Path(trial_dir) / CONFIG_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a trial record ({err.reason})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a trial record (line {err.lineno}: {err.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
        raise ValueError(f"{path}: not a trial record (no 'config' object)")
    return TrialRecord(
        trial_id=str(raw.get("trial_id", "")),
        assignment=dict(raw.get("assignment") or {}),
        config=raw["config"],
        resources=dict(raw.get("resources") or {}),
    )


def write_trial_record(trial_dir: Path, record: TrialRecord) -> None:
    """Write a trial's record (config.json), in the layout read_trial_record reads."""
    text = json.dumps(asdict(record), indent=2, default=str)
    (Path(trial_dir) / CONFIG_FILE).write_text(text, encoding="utf-8")
