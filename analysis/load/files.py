"""The files of a sweep folder as the analysis reads them: its tables (CSV or parquet) and the
metric its spec.yaml names.

Trial ids stay text whatever they look like, and an unreadable table or spec is a ValueError
naming the file, so every loader reports a bad folder in one line.

    frame = read_table(first_existing(folder, TRIALS_FILES))
    metric, mode = read_metric(folder)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from contract.metrics import EVAL_LOSS
from contract.results import CURVES_FILE, POINTS_FILE, SPEC_FILE, TRIAL_ID, TRIALS_FILE


def _both(name: str) -> tuple[str, str]:
    """A table's CSV name and its parquet twin (a folder converted for size)."""
    return name, name.replace(".csv", ".parquet")


TRIALS_FILES = _both(TRIALS_FILE)
CURVES_FILES = _both(CURVES_FILE)
POINTS_FILES = _both(POINTS_FILE)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or parquet table; ValueError naming the file when it cannot be read."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        # Ids are text: a hash like "1e10" must not turn into a number, and one like "nan" not
        # into NaN (only then is the id column read a second time, without NaN markers).
        frame = pd.read_csv(path, dtype={TRIAL_ID: str})
        if TRIAL_ID in frame.columns and frame[TRIAL_ID].isna().any():
            ids = pd.read_csv(path, usecols=[TRIAL_ID], dtype=str, keep_default_na=False)
            frame[TRIAL_ID] = ids[TRIAL_ID].to_numpy()
        return frame
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read table: {str(err).splitlines()[0]}") from None


def first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first of `names` that is a file in `folder`, or None."""
    return next((folder / n for n in names if (folder / n).is_file()), None)


def read_spec(folder: Path) -> dict:
    """The sweep's resolved spec.yaml as a dict ({} when absent)."""
    path = folder / SPEC_FILE
    if not path.is_file():
        return {}
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return spec if isinstance(spec, dict) else {}


def read_metric(folder: Path) -> tuple[str, str]:
    """The sweep's metric name and mode from spec.yaml (``search: {metric, mode}``)."""
    spec = read_spec(folder)
    search = spec.get("search") if isinstance(spec, dict) else None
    search = search if isinstance(search, dict) else {}
    return str(search.get("metric") or EVAL_LOSS), str(search.get("mode") or "min")
