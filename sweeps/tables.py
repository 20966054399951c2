"""The result tables of a sweep folder: `trials.csv` and `curves.csv`, written as trials run.

They are the interface to `analysis`. Every result is appended to curves.csv before the next
event is handled, and trials.csv is rewritten atomically whenever a trial starts or ends, so a
sweep killed at any moment keeps every row it had; rows of earlier runs of the same sweep are
loaded first and kept. Intermediate results update trials.csv at most once per
`RESULT_FLUSH_S`: a rewrite costs the driver time in proportion to the number of trials, and
the driver shares the machine with the trials.

    tables = ResultTables(sweep_dir, metric="eval/loss", mode="min")
    tables.trial_started(point)
    tables.trial_reported("3f9a0c21d4", {"step": 10, "eval/loss": 2.3})
    tables.trial_ended("3f9a0c21d4", status="TERMINATED")
"""

from __future__ import annotations

import csv
import math
import os
import time
from pathlib import Path
from typing import Any

from contract.metrics import DONE, STANDARD_METRICS, STEP
from contract.results import (
    CURVES_FILE,
    FINISHED,
    ID_COLUMNS,
    PENDING,
    RUNNING,
    STOPPED,
    TRIALS_FILE,
    best_column,
)
from sweeps.plan import LINK_KEYS

RESULT_FLUSH_S = 2.0
"""Least time between trials.csv rewrites caused by intermediate results (curves.csv has
every result at once; a trial's start and end always rewrite trials.csv)."""


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


def read_csv_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _write_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ResultTables:
    """In-memory view of the tables, mirrored to disk as trials start, report and end."""

    def __init__(self, sweep_dir: Path, metric: str, mode: str, stage: str = "main") -> None:
        self.dir = Path(sweep_dir)
        self.metric, self.mode, self.stage = metric, mode, stage
        self.trials: dict[str, dict[str, Any]] = {
            row["trial_id"]: row for row in read_csv_rows(self.dir / TRIALS_FILE)
        }
        self._curve_keys = {
            (row["trial_id"], row.get(STEP)) for row in read_csv_rows(self.dir / CURVES_FILE)
        }
        self._curve_columns: list[str] | None = None
        self._started: dict[str, float] = {}
        self._flushed_at = -math.inf

    # -- what earlier runs left -------------------------------------------------------------
    def status(self, trial_id: str) -> str | None:
        row = self.trials.get(trial_id)
        return row["status"] if row else None

    # -- events -------------------------------------------------------------------------------
    def trial_planned(self, point: Any) -> None:
        """Record a trial as PENDING unless an earlier run already has a row for it."""
        if point.trial_id not in self.trials:
            self.trials[point.trial_id] = self._identity(point, PENDING)

    def trial_started(self, point: Any) -> None:
        row = self.trials.get(point.trial_id) or self._identity(point, RUNNING)
        row["status"] = RUNNING
        row.pop("error", None)
        self.trials[point.trial_id] = row
        self._started[point.trial_id] = time.monotonic() - float(row.get("wall_s") or 0.0)
        self.flush()

    def trial_reported(self, trial_id: str, metrics: dict[str, Any]) -> None:
        row = self.trials[trial_id]
        numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        row.update({k: numbers[k] for k in STANDARD_METRICS if k in numbers})
        if self.metric in numbers:
            row[self.metric] = numbers[self.metric]
            best_key = best_column(self.metric)
            best = row.get(best_key)
            value = numbers[self.metric]
            better = min if self.mode == "min" else max
            if math.isfinite(value):
                row[best_key] = value if best is None else better(best, value)
        row["wall_s"] = round(time.monotonic() - self._started.get(trial_id, time.monotonic()), 2)
        if numbers.get(DONE):
            row["done"] = 1
        self._append_curve(trial_id, numbers)
        if time.monotonic() - self._flushed_at >= RESULT_FLUSH_S:
            self.flush()

    def trial_ended(self, trial_id: str, status: str, error: str | None = None) -> None:
        row = self.trials[trial_id]
        if status == FINISHED and not row.get("done"):
            status = STOPPED
        row["status"] = status
        if trial_id in self._started:
            row["wall_s"] = round(time.monotonic() - self._started[trial_id], 2)
        if error:
            row["error"] = " ".join(error.split())[:500]
        self.flush()

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
        row = {"trial_id": trial_id, **{k: numbers.get(k) for k in STANDARD_METRICS}}
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
        with path.open("a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=self._curve_columns, extrasaction="ignore").writerow(row)

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
