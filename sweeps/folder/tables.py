"""The result tables of a sweep folder: `trials.csv` and `curves.csv`, written as trials run.

They are the interface to `analysis`. Every result is appended to curves.csv before the next
event is handled, and trials.csv is rewritten atomically whenever a trial starts or ends, so a
sweep killed at any moment keeps every row it had; rows of earlier runs of the same sweep are
loaded first and kept. Each ended trial's row is also kept in its own folder (row.json): a
damaged or truncated trials.csv is rebuilt from those, with a line saying so, so no finished
trial is ever run again because of its table. A failed write (a full disk) keeps the table as
of its last good write and raises `TableWriteError` naming the file. Intermediate results update trials.csv at most once per
`RESULT_FLUSH_S`: a rewrite costs the driver time in proportion to the number of trials, and
the driver shares the machine with the trials.

    tables = ResultTables(sweep_dir, metric="eval/loss", mode="min")
    tables.trial_started(point)
    tables.trial_reported("3f9a0c21d4", {"step": 10, "eval/loss": 2.3})
    tables.trial_ended("3f9a0c21d4", status="TERMINATED")
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from contract.metrics import DONE, POINT_METRICS, STANDARD_METRICS, STEP, THROUGHPUT_METRICS
from contract.results import (
    CURVES_FILE,
    FAILED,
    FINISHED,
    ID_COLUMNS,
    INTERRUPTED,
    NODE,
    PENDING,
    ROW_FILE,
    RUNNING,
    SETTLED,
    STOPPED,
    TRIALS_DIR,
    TRIALS_FILE,
    best_column,
    find_trial_dir,
)
from sweeps.plan.trials import LINK_KEYS

RESULT_FLUSH_S = 2.0
"""Least time between trials.csv rewrites caused by intermediate results (curves.csv has
every result at once; a trial's start and end always rewrite trials.csv)."""
TUNE_NODE_IP = "node_ip"
"""The key Tune adds to every result: the IP of the node the trial's process runs on."""


def _number(value: Any) -> Any:
    """CSV cells come back as text; numbers become numbers again."""
    if value in ("", None):
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


STATUSES = {FINISHED, STOPPED, FAILED, RUNNING, PENDING, INTERRUPTED}
"""Statuses a resume does not run again (FAILED only without --retry-failed)."""


class TableWriteError(OSError):
    """A table could not be written (a full disk); the message names the file."""


def _write_error(path: Path, err: OSError) -> TableWriteError:
    reason = "no space left on device" if err.errno == errno.ENOSPC else err.strerror or str(err)
    return TableWriteError(
        err.errno, f"{path}: {reason.lower()}; the table keeps its last good write"
    )


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a table written here; ValueError for a row with too few or many fields."""
    if not path.exists():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            if None in row or None in row.values():
                raise ValueError(f"{path}: line {n} has the wrong number of fields")
            rows.append({k: _number(v) for k, v in row.items()})
    return rows


def _write_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    tmp = path.with_suffix(".csv.tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, err) from None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _read_trials(path: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """trials.csv's rows by trial id, and why the file is damaged (None when it is not)."""
    if not path.exists():
        return {}, None
    try:
        rows = read_csv_rows(path)
    except (csv.Error, UnicodeDecodeError, ValueError) as err:
        return {}, f"unreadable ({err.__class__.__name__})"
    if not rows:
        return {}, None if path.read_bytes().strip() else "empty"
    for row in rows:
        if not isinstance(row.get("trial_id"), str) or row.get("status") not in STATUSES:
            return {}, "rows without a trial id or with an unknown status"
    return {row["trial_id"]: row for row in rows}, None


def _folder_rows(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """The rows kept in the trial folders (row.json), by trial id."""
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted((sweep_dir / TRIALS_DIR).glob(f"*/{ROW_FILE}")):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        # The same checks as trials.csv's rows: a hand-edited or foreign row.json must not
        # put a status into the table that no reader knows.
        if (
            isinstance(row, dict)
            and isinstance(row.get("trial_id"), str)
            and row.get("status") in STATUSES
        ):
            rows[row["trial_id"]] = row
    return rows


def load_trials(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """trials.csv, checked against the rows the trial folders keep: a damaged table is
    rebuilt from them and missing or stale rows restored, each with a line saying so."""
    path = sweep_dir / TRIALS_FILE
    rows, damage = _read_trials(path)
    kept = _folder_rows(sweep_dir)
    if damage:
        os.replace(path, path.with_suffix(".csv.damaged"))
        _say(
            f"{path}: {damage}; rebuilt {len(kept)} rows from the trial folders "
            f"(the damaged file is kept as {path.name}.damaged)"
        )
        return kept
    restored = 0
    for trial_id, row in kept.items():
        old = rows.get(trial_id)
        if row.get("status") in SETTLED and (old is None or old.get("status") not in SETTLED):
            rows[trial_id] = row
            restored += 1
    if restored:
        _say(f"{path}: {restored} rows missing or out of date; restored from the trial folders")
    return rows


def _repair_curves(path: Path) -> set[tuple[str, Any]]:
    """Load curves.csv's (trial id, step) keys, dropping a row cut short by a kill and any
    repeated step (each with a line saying so)."""
    if not path.exists() or path.stat().st_size == 0:
        return set()
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as f:
            f.truncate(cut)
        _say(f"{path}: dropped a row cut short when the sweep was stopped")
    try:
        rows = read_csv_rows(path)
    except (csv.Error, UnicodeDecodeError, ValueError) as err:
        os.replace(path, path.with_suffix(".csv.damaged"))
        _say(f"{path}: unreadable ({err.__class__.__name__}); kept as {path.name}.damaged")
        return set()
    keys: set[tuple[str, Any]] = set()
    unique = []
    for row in rows:
        key = (row["trial_id"], row.get(STEP))
        if key not in keys:
            keys.add(key)
            unique.append(row)
    if len(unique) < len(rows):
        _write_atomic(path, unique)
        _say(f"{path}: removed {len(rows) - len(unique)} repeated (trial, step) rows")
    return keys


class ResultTables:
    """In-memory view of the tables, mirrored to disk as trials start, report and end."""

    def __init__(self, sweep_dir: Path, metric: str, mode: str, stage: str = "main") -> None:
        self.dir = Path(sweep_dir)
        self.metric, self.mode, self.stage = metric, mode, stage
        self.trials: dict[str, dict[str, Any]] = load_trials(self.dir)
        self._curve_keys = _repair_curves(self.dir / CURVES_FILE)
        self._curve_columns: list[str] | None = None
        self._started: dict[str, float] = {}
        self._flushed_at = -math.inf

    # -- what earlier runs left -------------------------------------------------------------
    def status(self, trial_id: str) -> str | None:
        row = self.trials.get(trial_id)
        return row["status"] if row else None

    # -- events -------------------------------------------------------------------------------
    def trial_planned(self, point: Any) -> None:
        """Record a trial as PENDING unless an earlier run already has a row for it (whose
        identity columns are refreshed: a row rebuilt from a trial folder may lack some)."""
        identity = self._identity(point, PENDING)
        row = self.trials.get(point.trial_id)
        if row is None:
            self.trials[point.trial_id] = identity
        else:
            row.update({k: v for k, v in identity.items() if k != "status"})

    def trial_started(self, point: Any) -> None:
        row = self.trials.get(point.trial_id) or self._identity(point, RUNNING)
        row["status"] = RUNNING
        row.pop("error", None)
        folder = find_trial_dir(self.dir, point.trial_id)
        if folder is not None:  # its kept row is out of date until the trial ends again
            (folder / ROW_FILE).unlink(missing_ok=True)
        self.trials[point.trial_id] = row
        self._started[point.trial_id] = time.monotonic() - float(row.get("wall_s") or 0.0)
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
        row["wall_s"] = round(time.monotonic() - self._started.get(trial_id, time.monotonic()), 2)
        if isinstance(metrics.get(TUNE_NODE_IP), str):
            row[NODE] = metrics[TUNE_NODE_IP]
        if numbers.get(DONE):
            row["done"] = 1
        self._append_curve(trial_id, numbers)
        if time.monotonic() - self._flushed_at >= RESULT_FLUSH_S:
            self.flush()

    def trial_ended(self, trial_id: str, status: str, error: str | None = None) -> None:
        row = self.trials[trial_id]
        if status == FINISHED and not row.get("done"):
            status = STOPPED
        if status == INTERRUPTED and row.get("done"):
            status = FINISHED  # its last report came in before the stop
        row["status"] = status
        if trial_id in self._started:
            row["wall_s"] = round(time.monotonic() - self._started[trial_id], 2)
        if error:
            row["error"] = " ".join(error.split())[:500]
        self.flush()
        self._keep_row(trial_id)

    def interrupt_running(self) -> int:
        """Mark this stage's RUNNING rows INTERRUPTED (the sweep was stopped); returns how many."""
        running = [r for r in self._rows(False) if r["status"] == RUNNING]
        for row in running:
            row["status"] = INTERRUPTED
            self._keep_row(row["trial_id"])
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
            raise _write_error(path, err) from None

    # -- output -------------------------------------------------------------------------------
    def _identity(self, point: Any, status: str) -> dict[str, Any]:
        row = {"trial_id": point.trial_id, "tag": point.tag, "stage": self.stage, "status": status}
        # Swept values as columns; a later stage's upstream model and checkpoint are shown
        # through the upstream.* columns instead.
        row.update({k: v for k, v in point.assignment.items() if k not in LINK_KEYS})
        row.update(point.upstream)
        row.setdefault("model.size", point.config.model.label)
        if hasattr(point.config, "data"):
            row.setdefault("data.fraction", point.config.data.fraction)
        row.update({"params": point.params, "params_total": point.params_total})
        row.update({"tokens_planned": point.tokens, "flops_planned": point.flops})
        return row

    def _append_curve(self, trial_id: str, numbers: dict[str, Any]) -> None:
        key = (trial_id, numbers.get(STEP))
        if key in self._curve_keys:
            return  # a resumed trial re-reporting a step already on disk
        self._curve_keys.add(key)
        path = self.dir / CURVES_FILE
        # Point keys are fixed columns: a wsd trial's first report is rarely a point, and the
        # header is written from the first row.
        fixed = (*STANDARD_METRICS, *POINT_METRICS)
        row = {"trial_id": trial_id, **{k: numbers.get(k) for k in fixed}}
        row.update({k: v for k, v in numbers.items() if "/" in k and k not in row})
        if self._curve_columns is None:
            existing = path.exists() and path.stat().st_size > 0
            if existing:
                with path.open(newline="", encoding="utf-8") as f:
                    self._curve_columns = next(csv.reader(f))
            else:
                self._curve_columns = list(row)
                with path.open("w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerow(self._curve_columns)
        size = path.stat().st_size
        try:
            with path.open("a", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=self._curve_columns, extrasaction="ignore")
                writer.writerow(row)
        except OSError as err:
            with path.open("r+b") as f:  # no half-written row: the file as of its last point
                f.truncate(size)
            self._curve_keys.discard(key)
            raise _write_error(path, err) from None

    def flush(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.trials.values(), key=lambda r: (str(r.get("stage")), r["trial_id"]))
        front = [c for c in ID_COLUMNS]
        rows = [{**{c: r.get(c) for c in front}, **r} for r in ordered]
        _write_atomic(self.dir / TRIALS_FILE, rows)
        self._flushed_at = time.monotonic()

    def _rows(self, all_stages: bool) -> list[dict[str, Any]]:
        return [r for r in self.trials.values() if all_stages or r.get("stage") == self.stage]

    def summary(self, all_stages: bool = False) -> dict[str, int]:
        """Trials per status, of this stage or of every stage."""
        counts: dict[str, int] = {}
        for row in self._rows(all_stages):
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts

    def best(self) -> dict[str, Any] | None:
        key = best_column(self.metric)
        scored = [r for r in self._rows(False) if isinstance(r.get(key), (int, float))]
        if not scored:
            return None
        pick = min if self.mode == "min" else max
        return pick(scored, key=lambda r: r[key])
