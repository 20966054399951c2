"""What the live page shows, as JSON-ready data read from the sweep folder: the trial rows, the
learning curves (only the rows a page has not seen yet), the background fit's charts and
numbers, a pipeline's forecast and its score, and the run's progress.

Every value is read from the folder's own files under fixed names (never from a path a
request names), checked before it is passed on: a row whose status is not one of the
contract's is dropped, text stays text (the page inserts it as text, never as HTML), and a
number that is not finite becomes null.

    state = SweepState(Path("results/scaling"))
    state.read(since=0)        # {"name": ..., "trials": [...], "curves": {"rows": [...]}, ...}
    state.read(since=812)      # the same, with only the curve rows after the first 812
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import yaml

from contract.fit_outputs import CHARTS_JSON, FIT_JSON
from contract.forecast import FORECAST_FILE, LEDGER_FILE
from contract.metrics import EVAL_LOSS, FLOPS, PARAMS, STEP, TOKENS
from contract.results import (
    BUDGET,
    CURVES_FILE,
    DATA_FRACTION,
    ERROR,
    FAILED,
    FINISHED,
    FLOPS_PLANNED,
    INTERRUPTED,
    MODEL_SIZE,
    PENDING,
    RUNNING,
    SPEC_FILE,
    STAGE,
    STATUS,
    STOPPED,
    TAG,
    TOKENS_PLANNED,
    TRIAL_ID,
    TRIALS_FILE,
    WALL_S,
    best_column,
)

STATUSES = (RUNNING, PENDING, FINISHED, STOPPED, INTERRUPTED, FAILED)
"""The statuses a row may carry, in the order the table lists them (running first)."""
FIT_DIR = Path("view") / "fit"
"""Where the background fit's outputs are swapped in, relative to the sweep folder."""
FIT_LOG = "fit.log"
MAX_TEXT = 200
"""Longest text cell passed on (an error message is cut, not a page of traceback)."""
_ROW_KEYS = (TAG, STAGE, STATUS, MODEL_SIZE, DATA_FRACTION, WALL_S, ERROR)
_ROW_NUMBERS = (PARAMS, TOKENS, FLOPS, BUDGET, TOKENS_PLANNED, FLOPS_PLANNED, STEP)


def number(value: Any) -> float | None:
    """A finite float, or None (CSV text, JSON values and NaN alike)."""
    try:
        out = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
    return out if out is not None and math.isfinite(out) else None


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:MAX_TEXT]


class _Cached:
    """A file parsed again only when its size or modification time changes: a page polled
    every few seconds costs the driver a stat() per file between changes."""

    def __init__(self, path: Path, parse: Any) -> None:
        self.path, self.parse, self.key, self.value = path, parse, None, None

    def get(self) -> Any:
        try:
            st = self.path.stat()
        except OSError:
            self.key, self.value = None, None
            return None
        key = (st.st_size, st.st_mtime_ns)
        if key != self.key:
            try:
                self.value = self.parse(self.path)
            except (OSError, ValueError, UnicodeDecodeError, csv.Error, yaml.YAMLError):
                return self.value  # caught mid-write: the last good read until the next
            self.key = key
        return self.value


class CurveLog:
    """curves.csv read incrementally: only the bytes appended since the last read are parsed
    (the file only grows while a sweep runs; a rewrite, by a resume's repair, starts over)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[list[Any]] = []
        self._offset = 0
        self._columns: list[str] | None = None
        self._inode: int | None = None

    def read(self, metrics: tuple[str, ...]) -> list[list[Any]]:
        """[trial id, tokens, value of each of `metrics`] per report, oldest first."""
        try:
            st = self.path.stat()
        except OSError:
            return self.rows
        if st.st_size < self._offset or st.st_ino != self._inode:
            self.rows, self._offset, self._columns, self._inode = [], 0, None, st.st_ino
        if st.st_size == self._offset:
            return self.rows
        with self.path.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read(st.st_size - self._offset)
        whole = chunk[: chunk.rfind(b"\n") + 1]  # a row being appended waits for the next read
        self._offset += len(whole)
        lines = list(csv.reader(io.StringIO(whole.decode("utf-8", errors="replace"))))
        if self._columns is None and lines:
            self._columns, lines = lines[0], lines[1:]
        cols = {name: i for i, name in enumerate(self._columns or [])}
        wanted = [cols.get(TRIAL_ID), cols.get(TOKENS), *(cols.get(m) for m in metrics)]
        for line in lines:
            cells = [line[i] if i is not None and i < len(line) else None for i in wanted]
            if cells[0]:
                self.rows.append([_text(cells[0]), *(number(c) for c in cells[1:])])
        return self.rows


def _trials(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def stages_of(spec: Any) -> list[dict[str, Any]]:
    """Each stage's name, metric, mode and whether it is RL or a compute sweep, from the
    sweep's spec.yaml (a one-stage sweep is stage "main")."""
    if not isinstance(spec, dict):
        return [{"name": "main", "metric": EVAL_LOSS, "mode": "min", "rl": False}]
    defaults = spec
    listed = (
        spec.get("stages") if isinstance(spec.get("stages"), list) else [dict(spec, name="main")]
    )
    out = []
    for stage in listed:
        if not isinstance(stage, dict):
            continue
        search = stage.get("search") or defaults.get("search") or {}
        task = stage.get("task") or defaults.get("task") or {}
        source = stage.get("from") if isinstance(stage.get("from"), dict) else {}
        out.append(
            {
                "name": _text(stage.get("name", "main")),
                "metric": _text(search.get("metric", EVAL_LOSS)),
                "mode": "max" if search.get("mode") == "max" else "min",
                "rl": isinstance(task, dict) and task.get("type") == "rl",
                "forecast": "forecast" in source,
            }
        )
    return out or [{"name": "main", "metric": EVAL_LOSS, "mode": "min", "rl": False}]


def clean_row(row: dict[str, Any], metrics: tuple[str, ...]) -> dict[str, Any] | None:
    """The row as the page needs it, or None when it is not a trial row (no id, or a status
    the contract does not know: a hand-edited or damaged table)."""
    if not row.get(TRIAL_ID) or row.get(STATUS) not in STATUSES:
        return None
    out: dict[str, Any] = {"id": _text(row[TRIAL_ID])}
    out.update({k: _text(row.get(k)) for k in _ROW_KEYS})
    out.update({k: number(row.get(k)) for k in _ROW_NUMBERS})
    out["best"] = {m: number(row.get(best_column(m))) for m in metrics}
    out["last"] = {m: number(row.get(m)) for m in metrics}
    return out


def _forecast(sweep_dir: Path, stage: str) -> dict[str, Any] | None:
    """A forecast stage's preregistered forecast and, once scored, the ledger's row for it."""
    raw = _json_or_none(sweep_dir / f"{stage}-forecast" / FORECAST_FILE)
    if not isinstance(raw, dict) or not isinstance(raw.get("loss"), dict):
        return None
    loss = {k: number(v) for k, v in raw["loss"].items()}
    out = {
        "id": _text(raw.get("forecast_id")),
        "C": number(raw.get("target_flops")),
        "N": number((raw.get("n_star") or {}).get("value")),
        "loss": loss,
        "chosen": _text(raw.get("chosen")),
        "score": None,
    }
    ledger = sweep_dir.parent / LEDGER_FILE  # the scoring step's fixed place: its own row only
    for row in _ledger(ledger) or []:
        if row.get("forecast_id") == out["id"]:
            out["score"] = {
                "realised": number(row.get("realised_loss")),
                "error_pct": number(row.get("error_pct")),
                "inside80": row.get("inside80") == "True",
                "inside95": row.get("inside95") == "True",
            }
    return out


def _json_or_none(path: Path) -> Any:
    try:
        return _json(path)
    except (OSError, ValueError):
        return None


def _ledger(path: Path) -> list[dict[str, str]] | None:
    try:
        return _trials(path)
    except (OSError, csv.Error, UnicodeDecodeError):
        return None


class SweepState:
    """The page's data for one sweep folder, with each file cached between reads."""

    def __init__(self, sweep_dir: Path) -> None:
        self.dir = Path(sweep_dir)
        self._spec = _Cached(self.dir / SPEC_FILE, _yaml)
        self._trials = _Cached(self.dir / TRIALS_FILE, _trials)
        self._fit = _Cached(self.dir / FIT_DIR / FIT_JSON, _json)
        self._charts = _Cached(self.dir / FIT_DIR / CHARTS_JSON, _json)
        self._curves = CurveLog(self.dir / CURVES_FILE)

    def metrics(self, stages: list[dict[str, Any]]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s["metric"] for s in stages))

    def read(self, since: int = 0, progress: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything the page draws; `since` curve rows the page already has are left out."""
        stages = stages_of(self._spec.get())
        metrics = self.metrics(stages)
        rows = [clean_row(r, metrics) for r in (self._trials.get() or [])]
        trials = [r for r in rows if r is not None]
        curves = self._curves.read(metrics)
        since = max(0, min(int(since), len(curves)))
        return {
            "name": _text(self.dir.name),
            "as_of": time.strftime("%Y-%m-%d %H:%M:%S"),
            "stages": stages,
            "metrics": list(metrics),
            "trials": trials,
            "dropped": len(rows) - len(trials),
            "curves": {"from": since, "rows": curves[since:]},
            "fit": self._fit.get(),
            "charts": self._charts.get(),
            "fit_log": self._fit_log(),
            "forecasts": {
                s["name"]: _forecast(self.dir, s["name"]) for s in stages if s.get("forecast")
            },
            "progress": progress,
        }

    def _fit_log(self) -> str:
        """The failed fit's last line (why there is no fit yet), or ""."""
        try:
            text = (self.dir / FIT_DIR / FIT_LOG).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        lines = text.strip().splitlines()
        return _text(lines[-1]) if lines else ""


__all__ = ["STATUSES", "CurveLog", "SweepState", "clean_row", "number", "stages_of"]
