"""Result files, trial statuses, table columns and the trial-folder layout of a sweep folder.

The runner writes these, the analysis and later stages read them; both import the names from
here, so a renamed file or status cannot leave one side behind.

    from contract.results import TRIALS_FILE, FINISHED, best_column, trial_checkpoints
    rows = [r for r in read(sweep / TRIALS_FILE) if r["status"] == FINISHED]
    best = rows[0][best_column("eval/loss")]
"""

from __future__ import annotations

from pathlib import Path

# Files at the top of a sweep folder `<storage>/<name>/`.
TRIALS_FILE = "trials.csv"
"""One row per trial: identity, status, swept values, counts, final and best metric."""
CURVES_FILE = "curves.csv"
"""One row per report of every trial: the learning curves."""
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
TAG = "tag"
STAGE = "stage"
STATUS = "status"
ID_COLUMNS: tuple[str, ...] = (TRIAL_ID, TAG, STAGE, STATUS)
BUDGET = "budget"
"""Nominal training-FLOP budget of a compute sweep's trial (its IsoFLOP group)."""
RUN_ID = "run_id"
"""Rows that are points of one run (cooldown branches, checkpoints) share it."""
NODE = "node"
"""IP of the node a trial last reported from: where a multi-node sweep ran it, and where a
trial retried after a node was lost moved to."""


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
