"""Load scaling data: a sweep folder (trials.csv, curves.csv, points.csv, spec.yaml) or any
CSV/parquet table.

Rows become canonical columns N (non-embedding parameters), D (tokens), C (training FLOPs) and
loss. C is the table's recorded ``flops`` (3 x forward FLOPs x tokens, ``contract.compute``);
only a table without a FLOPs column gets the labelled approximation C = 6ND. A compute sweep's
nominal ``budget`` and a ``run_id`` shared by points of one run are kept as columns; a wsd run's
cooldown branches become points of their own (analysis.load.points). Failed, unfinished and
diverged trials are set aside in ``excluded`` with the reason, so a report can list them.

    data = load_scaling_data("results/my-sweep")
    data = load_scaling_data("chinchilla.csv", columns=parse_columns("N=Model Size,C=Training FLOP"))
    data.points[["N", "D", "C", "loss"]], data.excluded
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.laws.forms import APPROX_6ND, VARIABLES, ComputeModel, derive_missing
from analysis.load.files import (
    CURVES_FILES,
    TRIALS_FILES,
    first_existing,
    read_metric,
    read_spec,
    read_table,
)
from analysis.load.points import drop_diverged, load_curves, run_points
from analysis.load.where import apply_where
from contract.metrics import EVAL_LOSS, FLOPS, PARAMS, TOKENS
from contract.results import BUDGET, ERROR, FINISHED, RUN_ID, STATUS, TRIAL_ID
from contract.storage import is_remote

CANONICAL: tuple[str, ...] = (*VARIABLES, "loss")
APPROX = "approx 6ND"
"""Source label of an axis derived with the 6ND approximation."""
ALIASES: dict[str, tuple[str, ...]] = {
    "N": ("N", PARAMS),
    "D": ("D", TOKENS),
    "C": ("C", FLOPS),
    "loss": ("loss", EVAL_LOSS),
}
"""Column names recognised without --columns, in order of preference."""


@dataclass(frozen=True)
class ScalingData:
    """Rows ready to fit, the rows set aside, and where they came from."""

    points: pd.DataFrame
    """One row per finished run: id, N, D, C, loss (NaN where an axis is unknown)."""
    excluded: pd.DataFrame
    """One row per run left out: id, reason."""
    curves: pd.DataFrame | None
    """Learning curves of the kept runs (id, N, D, C, loss; lr when recorded), or None."""
    source: str
    metric: str = EVAL_LOSS
    mode: str = "min"
    columns: dict[str, str] | None = None
    """Canonical name -> source column (``APPROX`` when computed from C = 6ND)."""
    compute: ComputeModel = APPROX_6ND
    """C / (N D) as the rows record it; allocations turn budgets into tokens with it."""
    spec: dict | None = None
    """The sweep's resolved spec (name, description), for the report's provenance."""
    warnings: tuple[str, ...] = ()
    """What loading found that makes a fit less trustworthy (e.g. checkpoints without run ids)."""

    @property
    def c_source(self) -> str:
        """Which C the analysis used, in words for the report."""
        col = (self.columns or {}).get("C", "missing")
        if col == APPROX:
            return "C = 6ND (approximation: the table has no FLOPs column)"
        if col == "missing":
            return "no C"
        derived = [k for k in ("N", "D") if (self.columns or {}).get(k) == APPROX]
        if derived:
            return (
                f"C = recorded training FLOPs (column {col!r}); {derived[0]} derived from it "
                "with C = 6ND (approximation: the table has no such column)"
            )
        return f"C = recorded training FLOPs (column {col!r}); {self.compute.describe()}"

    def has(self, var: str) -> bool:
        """Whether every kept row has a value for ``var``."""
        return len(self.points) > 0 and bool(self.points[var].notna().all())


def parse_columns(spec: str) -> dict[str, str]:
    """Parse ``"N=Model Size,C=Training FLOP,loss=loss"``: split on ',' then the first '='."""
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, col = part.partition("=")
        key, col = key.strip(), col.strip()
        if not sep or not col:
            raise ValueError(f"--columns: expected KEY=COLUMN, got {part.strip()!r}")
        if key not in CANONICAL:
            raise ValueError(f"--columns: unknown key {key!r} (valid: {', '.join(CANONICAL)})")
        mapping[key] = col
    return mapping


def parse_point(spec: str) -> dict[str, float]:
    """Parse a prediction point ``"N=1e9,D=2e10"`` or ``"C=1e24"`` into positive floats."""
    point: dict[str, float] = {}
    for part in spec.split(","):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or key not in VARIABLES:
            raise ValueError(f"--predict: expected N=..., D=... or C=..., got {part.strip()!r}")
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"--predict: {key}={raw.strip()!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"--predict: {key} must be a positive number, got {raw.strip()}")
        point[key] = value
    return point


def _resolve_columns(
    frame: pd.DataFrame, mapping: dict[str, str], path: Path, metric: str
) -> dict[str, str]:
    """Canonical name -> column in ``frame``; explicit mappings must exist."""
    resolved: dict[str, str] = {}
    for key in CANONICAL:
        if key in mapping:
            if mapping[key] not in frame.columns:
                shown = ", ".join(map(str, list(frame.columns)[:12]))
                raise ValueError(f"--columns: no column {mapping[key]!r} in {path} (has: {shown})")
            resolved[key] = mapping[key]
            continue
        names = (metric, *ALIASES[key]) if key == "loss" else ALIASES[key]
        found = next((n for n in names if n in frame.columns), None)
        if found is not None:
            resolved[key] = found
    if "loss" not in resolved:
        raise ValueError(
            f"{path}: no loss column ({metric!r} or 'loss'); pass --columns loss=<col>"
        )
    return resolved


def _canonical(frame: pd.DataFrame, cols: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Numeric N, D, C, loss columns (NaN where unknown) and where each one came from."""
    given: dict[str, np.ndarray | None] = {}
    for key in VARIABLES:
        values = None
        if key in cols:
            values = pd.to_numeric(frame[cols[key]], errors="coerce").to_numpy(dtype=float)
            values = None if np.isnan(values).all() else values
        given[key] = values
    derived = dict(zip(VARIABLES, derive_missing(given["N"], given["D"], given["C"]), strict=True))
    used = {
        k: cols[k] if given[k] is not None else (APPROX if derived[k] is not None else "missing")
        for k in VARIABLES
    }
    nan = np.full(len(frame), np.nan)
    out = pd.DataFrame({k: nan if v is None else v for k, v in derived.items()}, index=frame.index)
    out["loss"] = pd.to_numeric(frame[cols["loss"]], errors="coerce").to_numpy(dtype=float)
    return out, {**used, "loss": cols["loss"]}


def _reasons(frame: pd.DataFrame, canon: pd.DataFrame) -> pd.Series:
    """Why each row cannot be fitted ('' when it can)."""
    reasons = pd.Series("", index=frame.index, dtype=object)
    if STATUS in frame.columns:
        status = frame[STATUS].astype(str)
        bad = status != FINISHED
        err = frame[ERROR].fillna("").astype(str) if ERROR in frame.columns else None
        for i in frame.index[bad]:
            msg = f"status {status[i]}"
            if err is not None and err[i]:
                msg += f": {err[i][:200]}"
            reasons[i] = msg
    loss = canon["loss"]
    for i in canon.index[(reasons == "") & ~np.isfinite(loss)]:
        reasons[i] = f"loss is {loss[i]} (diverged or never evaluated)"
    for i in canon.index[(reasons == "") & (loss <= 0)]:
        reasons[i] = f"loss {loss[i]:g} <= 0 cannot be fitted in log space"
    for var in VARIABLES:
        col = canon[var]
        if col.isna().all():
            continue
        for i in canon.index[(reasons == "") & ~((col > 0) & np.isfinite(col))]:
            # inf: a value (or 6ND of two) past the float range, which no fit can use
            reasons[i] = f"{var} is missing, <= 0 or not finite"
    return reasons


RUN_LENGTH_COLUMNS = (
    "total_steps",
    "max_steps",
    "num_steps",
    "trainer.max_steps",
    "total_tokens",
    "max_tokens",
    "trainer.max_tokens",
)
"""Columns that give the length a run was planned for; checkpoints of one run share it."""


def checkpoint_warning(frame: pd.DataFrame, n_col: str | None, path: Path) -> str | None:
    """Warn when a table without ``run_id`` has rows that share (N, planned run length).

    Such rows are checkpoints of one run: they share its noise (seed, data order), so resampled
    as independent runs they make intervals several times too narrow. Only a ``run_id`` column
    says which rows belong together; this check names the columns and asks for one.
    """
    length = next((c for c in RUN_LENGTH_COLUMNS if c in frame.columns), None)
    if RUN_ID in frame.columns or n_col is None or length is None:
        return None
    shared = frame.duplicated([n_col, length], keep=False)
    if not shared.any():
        return None
    return (
        f"{path.name}: {int(shared.sum())} rows share ({n_col!r}, {length!r}), so they look like "
        f"checkpoints of one run resampled as independent runs (intervals too narrow); add a "
        f"{RUN_ID!r} column naming each row's run"
    )


def load_scaling_data(
    source: str | Path, columns: dict[str, str] | None = None, where: str | None = None
) -> ScalingData:
    """Load a sweep folder or a CSV/parquet table into canonical N, D, C, loss rows."""
    if is_remote(source):  # s3://, gs://: the tables are copied down first
        from analysis.load.remote import load_remote

        return load_remote(str(source), columns, where)
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    folder = path if path.is_dir() else None
    table_path = first_existing(path, TRIALS_FILES) if folder else path
    if table_path is None or table_path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"{path}: not a sweep folder (no trials.csv) and not a CSV/parquet file")
    metric, mode = read_metric(folder) if folder else (EVAL_LOSS, "min")
    frame = read_table(table_path).reset_index(drop=True)
    if where:
        frame = apply_where(frame, where)  # never DataFrame.query: it can run code
    cols = _resolve_columns(frame, columns or {}, table_path, metric)
    canon, used = _canonical(frame, cols)
    reasons = _reasons(frame, canon)
    if TRIAL_ID in frame.columns:
        ids = frame[TRIAL_ID].astype(str)
    else:
        # Index labels survive --where, so "row k" stays the line number in a CSV file.
        ids = pd.Series([f"row {i + 2}" for i in frame.index], index=frame.index)
    canon.insert(0, "id", ids)
    if BUDGET in frame.columns:
        canon[BUDGET] = pd.to_numeric(frame[BUDGET], errors="coerce")
    if RUN_ID in frame.columns:
        canon[RUN_ID] = frame[RUN_ID].astype(str)
    elif folder is not None:
        canon[RUN_ID] = ids  # in a sweep folder every trial is one run
    keep = reasons == ""
    points = canon[keep].reset_index(drop=True)
    excluded = pd.DataFrame({"id": ids[~keep].to_numpy(), "reason": reasons[~keep].to_numpy()})
    curves = None
    if folder is not None and len(points):
        points, excluded, curves = _with_curves(
            folder, points, excluded, cols["loss"], metric, mode
        )
    compute = APPROX_6ND
    if APPROX not in used.values() and used.get("C") != "missing" and len(points):
        compute = ComputeModel.estimate(points["N"], points["D"], points["C"])
    spec = read_spec(folder) if folder else None
    kept = frame[keep.to_numpy()]
    warning = None if folder else checkpoint_warning(kept, cols.get("N"), table_path)
    return ScalingData(
        points,
        excluded,
        curves,
        str(path),
        metric,
        mode,
        used,
        compute,
        spec,
        warnings=(warning,) if warning else (),
    )


def _with_curves(
    folder: Path, points: pd.DataFrame, excluded: pd.DataFrame, loss: str, metric: str, mode: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """A sweep folder's kept runs with their curves (curves.csv parsed once): diverged runs set
    aside, each wsd run replaced by its branch points."""
    path = first_existing(folder, CURVES_FILES)
    raw = read_table(path) if path is not None else None
    curves = load_curves(raw, points["id"], points, loss, metric)
    points, excluded, curves = drop_diverged(points, excluded, curves, mode)
    return run_points(folder, points, raw, loss, metric), excluded, curves
