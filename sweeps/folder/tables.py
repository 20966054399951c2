"""The result tables of a sweep folder: `trials.csv`, `curves.csv` and `points.csv`, written
as trials run.

They are the interface to `analysis`. Every result is appended to curves.csv before the next
event is handled, and every result that is a scaling-law point (a run's end, a cooldown branch:
contract.points) to points.csv as well; trials.csv is rewritten atomically whenever a trial
starts or ends, so a sweep killed at any moment keeps every row it had; rows of earlier runs of
the same sweep are loaded first and kept. Each ended trial's row is also kept in its own folder
(row.json): a damaged or truncated trials.csv is rebuilt from those, with a line saying so, so
no finished trial is ever run again because of its table. A failed write (a full disk) keeps
the table as of its last good write and raises `TableWriteError` naming the file (the file
helpers are in sweeps.folder.table_files). Intermediate results update trials.csv at most once
per `RESULT_FLUSH_S`: a rewrite costs the driver time in proportion to the number of trials,
and the driver shares the machine with the trials.

    tables = ResultTables(sweep_dir, metric="eval/loss", mode="min")
    tables.trial_started(point)
    tables.trial_reported("3f9a0c21d4", {"step": 10, "eval/loss": 2.3})
    tables.trial_ended("3f9a0c21d4", status="TERMINATED")
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from contract.metrics import (
    DONE,
    PARAMS,
    PARAMS_TOTAL,
    POINT_METRICS,
    STANDARD_METRICS,
    STEP,
    THROUGHPUT_METRICS,
)
from contract.points import point_row, points_columns
from contract.results import (
    CURVES_FILE,
    DATA_FRACTION,
    ERROR,
    FINISHED,
    FLOPS_PLANNED,
    FULL_RUN,
    ID_COLUMNS,
    INTERRUPTED,
    MODEL_SIZE,
    NODE,
    PENDING,
    POINT,
    POINTS_FILE,
    RETRIED_AFTER,
    RETRIES,
    ROW_FILE,
    RUNNING,
    STAGE,
    STATUS,
    STOPPED,
    TAG,
    TOKENS_PLANNED,
    TRIAL_ID,
    TRIALS_FILE,
    WALL_S,
    best_column,
    find_trial_dir,
)
from sweeps.folder.table_files import (
    STATUSES,
    AppendedTable,
    TableWriteError,
    load_trials,
    read_csv_rows,
    write_atomic,
    write_error,
)
from sweeps.plan.trials import LINK_KEYS, TrialPoint

__all__ = ["STATUSES", "ResultTables", "TableWriteError", "load_trials", "read_csv_rows"]

RESULT_FLUSH_S = 2.0
"""Least time between trials.csv rewrites caused by intermediate results (curves.csv has
every result at once; a trial's start and end always rewrite trials.csv)."""
TUNE_NODE_IP = "node_ip"
"""The key Tune adds to every result: the IP of the node the trial's process runs on."""


class ResultTables:
    """In-memory view of the tables, mirrored to disk as trials start, report and end."""

    def __init__(self, sweep_dir: Path, metric: str, mode: str, stage: str = "main") -> None:
        self.dir = Path(sweep_dir)
        self.metric, self.mode, self.stage = metric, mode, stage
        self.trials: dict[str, dict[str, Any]] = load_trials(self.dir)
        self._curves = AppendedTable(self.dir / CURVES_FILE, (TRIAL_ID, STEP))
        header = points_columns(metric)
        self._points = AppendedTable(self.dir / POINTS_FILE, (TRIAL_ID, POINT), header)
        self._started: dict[str, float] = {}
        self._flushed_at = -math.inf

    # -- what earlier runs left -------------------------------------------------------------
    def status(self, trial_id: str) -> str | None:
        row = self.trials.get(trial_id)
        return row[STATUS] if row else None

    # -- events -------------------------------------------------------------------------------
    def trial_planned(self, point: Any) -> None:
        """Record a trial as PENDING unless an earlier run already has a row for it (whose
        identity columns are refreshed: a row rebuilt from a trial folder may lack some)."""
        identity = self._identity(point, PENDING)
        row = self.trials.get(point.trial_id)
        if row is None:
            self.trials[point.trial_id] = identity
        else:
            row.update({k: v for k, v in identity.items() if k != STATUS})

    def trial_started(self, point: Any) -> None:
        row = self.trials.get(point.trial_id) or self._identity(point, RUNNING)
        row[STATUS] = RUNNING
        row.pop(ERROR, None)
        folder = find_trial_dir(self.dir, point.trial_id)
        if folder is not None:  # its kept row is out of date until the trial ends again
            (folder / ROW_FILE).unlink(missing_ok=True)
        self.trials[point.trial_id] = row
        self._started[point.trial_id] = time.monotonic() - float(row.get(WALL_S) or 0.0)
        self.flush()

    def trial_reported(self, trial_id: str, metrics: dict[str, Any]) -> None:
        row = self.trials[trial_id]
        numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        # The last report's speed: how close to the machine's peak the trial trained.
        kept = (*STANDARD_METRICS, *THROUGHPUT_METRICS)
        row.update({k: numbers[k] for k in kept if k in numbers})
        if self.metric in numbers:
            row[self.metric] = numbers[self.metric]
            best_key = best_column(self.metric)
            best = row.get(best_key)
            value = numbers[self.metric]
            better = min if self.mode == "min" else max
            if math.isfinite(value):
                row[best_key] = value if best is None else better(best, value)
        row[WALL_S] = round(time.monotonic() - self._started.get(trial_id, time.monotonic()), 2)
        if isinstance(metrics.get(TUNE_NODE_IP), str):
            row[NODE] = metrics[TUNE_NODE_IP]
        if numbers.get(DONE):
            row[FULL_RUN] = 1
        self._append_curve(trial_id, numbers)
        point = point_row(trial_id, numbers, self.metric)
        if point is not None:  # a run's end or a cooldown branch: a scaling-law point
            self._points.append(point)
        if time.monotonic() - self._flushed_at >= RESULT_FLUSH_S:
            self.flush()

    def trial_ended(self, trial_id: str, status: str, error: str | None = None) -> None:
        row = self.trials[trial_id]
        if status == FINISHED and not row.get(FULL_RUN):
            status = STOPPED
        if status == INTERRUPTED and row.get(FULL_RUN):
            status = FINISHED  # its last report came in before the stop
        row[STATUS] = status
        if trial_id in self._started:
            row[WALL_S] = round(time.monotonic() - self._started[trial_id], 2)
        if error:
            row[ERROR] = " ".join(error.split())[:500]
        self.flush()
        self._keep_row(trial_id)

    def trial_retried(self, trial_id: str, cause: str) -> None:
        """A trial whose process died (`cause`, one line) waits to start again from its latest
        checkpoint: counted, so the table says which trials a lost node cost a restart."""
        row = self.trials[trial_id]
        row[STATUS] = PENDING
        row[RETRIES] = int(row.get(RETRIES) or 0) + 1
        where = row.get(NODE)  # the node it was lost on; NODE moves to where it runs next
        row[RETRIED_AFTER] = f"{cause} on {where}" if where else cause
        self.flush()

    def interrupt_running(self) -> int:
        """Mark this stage's RUNNING rows INTERRUPTED (the sweep was stopped); returns how many."""
        running = [r for r in self._rows(False) if r[STATUS] == RUNNING]
        for row in running:
            row[STATUS] = INTERRUPTED
            self._keep_row(row[TRIAL_ID])
        self.flush()
        return len(running)

    def _keep_row(self, trial_id: str) -> None:
        """Copy the row into the trial's folder, what a damaged trials.csv is rebuilt from."""
        folder = find_trial_dir(self.dir, trial_id)
        if folder is None:
            return
        path = folder / ROW_FILE
        tmp = path.with_suffix(".json.tmp")
        try:
            tmp.write_text(json.dumps(self.trials[trial_id], default=str), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise write_error(path, err) from None

    # -- output -------------------------------------------------------------------------------
    def _identity(self, point: Any, status: str) -> dict[str, Any]:
        row = {TRIAL_ID: point.trial_id, TAG: point.tag, STAGE: self.stage, STATUS: status}
        row.update(_swept_columns(point))
        row.update(point.upstream)
        row.setdefault(MODEL_SIZE, point.config.model.label)
        if hasattr(point.config, "data"):
            row.setdefault(DATA_FRACTION, point.config.data.fraction)
        row.update({PARAMS: point.params, PARAMS_TOTAL: point.params_total})
        row.update({TOKENS_PLANNED: point.tokens, FLOPS_PLANNED: point.flops})
        return row

    def _append_curve(self, trial_id: str, numbers: dict[str, Any]) -> None:
        # Point keys are fixed columns: a wsd trial's first report is rarely a point, and the
        # header is written from the first row.
        fixed = (*STANDARD_METRICS, *POINT_METRICS)
        row = {TRIAL_ID: trial_id, **{k: numbers.get(k) for k in fixed}}
        row.update({k: v for k, v in numbers.items() if "/" in k and k not in row})
        self._curves.append(row)

    def flush(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.trials.values(), key=lambda r: (str(r.get(STAGE)), r[TRIAL_ID]))
        front = [c for c in ID_COLUMNS]
        rows = [{**{c: r.get(c) for c in front}, **r} for r in ordered]
        write_atomic(self.dir / TRIALS_FILE, rows)
        self._flushed_at = time.monotonic()

    def _rows(self, all_stages: bool) -> list[dict[str, Any]]:
        return [r for r in self.trials.values() if all_stages or r.get(STAGE) == self.stage]

    def summary(self, all_stages: bool = False) -> dict[str, int]:
        """Trials per status, of this stage or of every stage."""
        counts: dict[str, int] = {}
        for row in self._rows(all_stages):
            counts[row[STATUS]] = counts.get(row[STATUS], 0) + 1
        return counts

    def best(self) -> dict[str, Any] | None:
        key = best_column(self.metric)
        scored = [r for r in self._rows(False) if isinstance(r.get(key), (int, float))]
        if not scored:
            return None
        pick = min if self.mode == "min" else max
        return pick(scored, key=lambda r: r[key])


def _swept_columns(point: TrialPoint) -> dict[str, Any]:
    """The trial's swept values as columns: `TrialPoint.assignment`, the one place that says
    where a compute sweep's FLOP budget stands among them. A later stage's upstream model and
    checkpoint are shown through the upstream.* columns instead."""
    return {k: v for k, v in point.assignment.items() if k not in LINK_KEYS}
