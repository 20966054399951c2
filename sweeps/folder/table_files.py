"""The files under the result tables: CSV rows read and written safely, trials.csv checked
against the rows the trial folders keep, and the append-only tables (curves.csv, points.csv)
repaired after a kill.

A full disk keeps a table as of its last good write and raises `TableWriteError` naming the
file; a row cut short by a kill, or a row repeated by a resumed trial, is dropped on load with a
line saying so.

    rows = read_csv_rows(sweep / TRIALS_FILE)
    keys = repair_appended(sweep / CURVES_FILE, (TRIAL_ID, STEP))
"""

from __future__ import annotations

import csv
import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

from contract.results import (
    FAILED,
    FINISHED,
    INTERRUPTED,
    PENDING,
    ROW_FILE,
    RUNNING,
    SETTLED,
    STATUS,
    STOPPED,
    TRIAL_ID,
    TRIALS_DIR,
    TRIALS_FILE,
)


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


def write_error(path: Path, err: OSError) -> TableWriteError:
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


def write_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
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
        raise write_error(path, err) from None


def say(text: str) -> None:
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
        if not isinstance(row.get(TRIAL_ID), str) or row.get(STATUS) not in STATUSES:
            return {}, "rows without a trial id or with an unknown status"
    return {row[TRIAL_ID]: row for row in rows}, None


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
            and isinstance(row.get(TRIAL_ID), str)
            and row.get(STATUS) in STATUSES
        ):
            rows[row[TRIAL_ID]] = row
    return rows


def load_trials(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """trials.csv, checked against the rows the trial folders keep: a damaged table is
    rebuilt from them and missing or stale rows restored, each with a line saying so."""
    path = sweep_dir / TRIALS_FILE
    rows, damage = _read_trials(path)
    kept = _folder_rows(sweep_dir)
    if damage:
        os.replace(path, path.with_suffix(".csv.damaged"))
        say(
            f"{path}: {damage}; rebuilt {len(kept)} rows from the trial folders "
            f"(the damaged file is kept as {path.name}.damaged)"
        )
        return kept
    restored = 0
    for trial_id, row in kept.items():
        old = rows.get(trial_id)
        if row.get(STATUS) in SETTLED and (old is None or old.get(STATUS) not in SETTLED):
            rows[trial_id] = row
            restored += 1
    if restored:
        say(f"{path}: {restored} rows missing or out of date; restored from the trial folders")
    return rows


def repair_appended(path: Path, key: tuple[str, str]) -> set[tuple[Any, Any]]:
    """Load the keys of an append-only table (curves.csv: trial id and step; points.csv: trial
    id and point), dropping a row cut short by a kill and any repeated key (each with a line
    saying so)."""
    if not path.exists() or path.stat().st_size == 0:
        return set()
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as f:
            f.truncate(cut)
        say(f"{path}: dropped a row cut short when the sweep was stopped")
    try:
        rows = read_csv_rows(path)
    except (csv.Error, UnicodeDecodeError, ValueError) as err:
        os.replace(path, path.with_suffix(".csv.damaged"))
        say(f"{path}: unreadable ({err.__class__.__name__}); kept as {path.name}.damaged")
        return set()
    keys: set[tuple[Any, Any]] = set()
    unique = []
    for row in rows:
        found = (row.get(key[0]), row.get(key[1]))
        if found not in keys:
            keys.add(found)
            unique.append(row)
    if len(unique) < len(rows):
        write_atomic(path, unique)
        say(f"{path}: removed {len(rows) - len(unique)} repeated {key} rows")
    return keys


class AppendedTable:
    """A table that only grows, one row per event (curves.csv, points.csv): a row whose key is
    already there (a resumed trial re-reporting) is skipped, and a failed append leaves the
    file as of its last whole row."""

    def __init__(self, path: Path, key: tuple[str, str], header: list[str] | None = None) -> None:
        self.path, self.key, self.header = path, key, header
        self.keys = repair_appended(path, key)
        self._columns: list[str] | None = None

    def append(self, row: dict[str, Any]) -> None:
        """Append `row` (its keys outside the header are dropped); a new file's header is the
        fixed one given, else the first row's keys."""
        found = (row.get(self.key[0]), row.get(self.key[1]))
        if found in self.keys:
            return
        self.keys.add(found)
        path = self.path
        if self._columns is None:
            if path.exists() and path.stat().st_size > 0:
                with path.open(newline="", encoding="utf-8") as f:
                    self._columns = next(csv.reader(f))
            else:
                self._columns = list(self.header or row)
                with path.open("w", newline="", encoding="utf-8") as f:
                    csv.writer(f).writerow(self._columns)
        size = path.stat().st_size
        try:
            with path.open("a", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore")
                writer.writerow(row)
        except OSError as err:
            with path.open("r+b") as f:  # no half-written row: the file as of its last row
                f.truncate(size)
            self.keys.discard(found)
            raise write_error(path, err) from None
