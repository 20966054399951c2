"""Load scaling data: a sweep folder (trials.csv + curves.csv + spec.yaml) or any CSV/parquet.

Rows become canonical columns N (non-embedding parameters), D (tokens), C (training FLOPs) and
loss. C is the table's recorded ``flops`` (3 x forward FLOPs x tokens, ``contract.compute``);
only a table without a FLOPs column gets the labelled approximation C = 6ND. A compute sweep's
nominal ``budget`` and a ``run_id`` shared by points of one run are kept as columns. Failed, unfinished and diverged trials are
set aside in ``excluded`` with the reason, so a report can list them.

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
import yaml

from analysis.laws.forms import APPROX_6ND, VARIABLES, ComputeModel, derive_missing
from analysis.load.where import apply_where
from contract.metrics import (
    BRANCH_FLOPS,
    BRANCH_FRACTION,
    BRANCH_TOKENS,
    EVAL_LOSS,
    FLOPS,
    LR,
    PARAMS,
    TOKENS,
    branch_metric,
)
from contract.results import BUDGET, CURVES_FILE, FINISHED, RUN_ID, SPEC_FILE, TRIALS_FILE
from contract.storage import is_remote

TRIALS_FILES = (TRIALS_FILE, TRIALS_FILE.replace(".csv", ".parquet"))
CURVES_FILES = (CURVES_FILE, CURVES_FILE.replace(".csv", ".parquet"))
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


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        frame = pd.read_csv(path)
        if "trial_id" in frame.columns:
            # Ids are text; a hash like "1e10" or "nan" must not turn into a number or NaN.
            ids = pd.read_csv(path, usecols=["trial_id"], dtype=str, keep_default_na=False)
            frame["trial_id"] = ids["trial_id"].to_numpy()
        return frame
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, ValueError) as err:
        raise ValueError(f"{path}: cannot read table: {str(err).splitlines()[0]}") from None


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _read_spec(folder: Path) -> dict:
    """The sweep's resolved spec.yaml as a dict ({} when absent)."""
    path = folder / SPEC_FILE
    if not path.is_file():
        return {}
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return spec if isinstance(spec, dict) else {}


def _read_metric(folder: Path) -> tuple[str, str]:
    """The sweep's metric name and mode from spec.yaml (``search: {metric, mode}``)."""
    spec = _read_spec(folder)
    search = spec.get("search") if isinstance(spec, dict) else None
    search = search if isinstance(search, dict) else {}
    return str(search.get("metric") or EVAL_LOSS), str(search.get("mode") or "min")


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
    if "status" in frame.columns:
        status = frame["status"].astype(str)
        bad = status != FINISHED
        err = frame["error"].fillna("").astype(str) if "error" in frame.columns else None
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


def _load_curves(
    folder: Path, ids: pd.Series, kept: pd.DataFrame, loss_col: str, metric: str
) -> pd.DataFrame | None:
    path = _first_existing(folder, CURVES_FILES)
    if path is None:
        return None
    raw = _read_table(path)
    col = loss_col if loss_col in raw.columns else metric
    if "trial_id" not in raw.columns or col not in raw.columns:
        return None
    sizes = pd.Series(kept["N"].to_numpy(), index=ids.to_numpy())
    raw = raw[raw["trial_id"].isin(sizes.index)]
    N = sizes.reindex(raw["trial_id"]).to_numpy(dtype=float)
    tokens = pd.to_numeric(raw[TOKENS], errors="coerce").to_numpy(float) if TOKENS in raw else None
    flops = pd.to_numeric(raw[FLOPS], errors="coerce").to_numpy(float) if FLOPS in raw else None
    _, D, C = derive_missing(N, tokens, flops)
    if D is None or C is None:
        return None
    curves = pd.DataFrame(
        {
            "id": raw["trial_id"].to_numpy(),
            "N": N,
            "D": D,
            "C": C,
            "loss": pd.to_numeric(raw[col], errors="coerce").to_numpy(float),
        }
    )
    if LR in raw.columns:  # tells annealed points from intermediate ones (analysis.laws.annealed)
        curves[LR] = pd.to_numeric(raw[LR], errors="coerce").to_numpy(float)
    return curves[np.isfinite(curves[["N", "D", "C", "loss"]]).all(axis=1)].reset_index(drop=True)


def _branch_points(folder: Path, points: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Each WSD trial's cooldown points (curves.csv rows with `branch/fraction`) in place of its
    one trials.csv row: N of the trial, D and C of the branch (`branch/tokens`, `branch/flops`),
    the branch's loss; they keep the trial as their `run_id` so a bootstrap resamples runs, and
    a compute sweep's nominal budget scales with the branch's fraction of the run."""
    path = _first_existing(folder, CURVES_FILES)
    loss_key = branch_metric(metric)
    if path is None or not len(points):
        return points
    raw = _read_table(path)
    if BRANCH_FRACTION not in raw.columns or loss_key not in raw.columns:
        return points
    raw = raw[pd.to_numeric(raw[BRANCH_FRACTION], errors="coerce") > 0]
    raw = raw[raw["trial_id"].astype(str).isin(points["id"])]
    if raw.empty:
        return points
    raw = raw.drop_duplicates(["trial_id", BRANCH_FRACTION], keep="last")
    by_id = points.set_index("id")
    rows = []
    for _, r in raw.iterrows():
        trial = by_id.loc[str(r["trial_id"])]
        fraction = float(r[BRANCH_FRACTION])
        row = {**trial.to_dict(), "id": f"{r['trial_id']}@{fraction:g}"}
        row.update(D=float(r[BRANCH_TOKENS]), C=float(r[BRANCH_FLOPS]), loss=float(r[loss_key]))
        row[RUN_ID] = str(r["trial_id"])
        if BUDGET in row and pd.notna(row[BUDGET]):
            row[BUDGET] = float(row[BUDGET]) * fraction
        rows.append(row)
    branched = set(raw["trial_id"].astype(str))
    rest = points[~points["id"].isin(branched)]
    return pd.concat([rest, pd.DataFrame(rows)[points.columns]], ignore_index=True)


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
    table_path = _first_existing(path, TRIALS_FILES) if folder else path
    if table_path is None or table_path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"{path}: not a sweep folder (no trials.csv) and not a CSV/parquet file")
    metric, mode = _read_metric(folder) if folder else (EVAL_LOSS, "min")
    frame = _read_table(table_path).reset_index(drop=True)
    if where:
        frame = apply_where(frame, where)  # never DataFrame.query: it can run code
    cols = _resolve_columns(frame, columns or {}, table_path, metric)
    canon, used = _canonical(frame, cols)
    reasons = _reasons(frame, canon)
    if "trial_id" in frame.columns:
        ids = frame["trial_id"].astype(str)
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
        curves = _load_curves(folder, points["id"], points, cols["loss"], metric)
        points, excluded, curves = _drop_diverged(points, excluded, curves, mode)
        points = _branch_points(folder, points, metric)
    compute = APPROX_6ND
    if APPROX not in used.values() and used.get("C") != "missing" and len(points):
        compute = ComputeModel.estimate(points["N"], points["D"], points["C"])
    spec = _read_spec(folder) if folder else None
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


def _drop_diverged(
    points: pd.DataFrame, excluded: pd.DataFrame, curves: pd.DataFrame | None, mode: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """A min-mode run whose final loss is above its first reported loss has diverged."""
    if curves is None or mode != "min" or curves.empty:
        return points, excluded, curves
    first = curves.groupby("id", sort=False)["loss"].first()
    start = first.reindex(points["id"]).to_numpy()
    bad = np.isfinite(start) & (points["loss"].to_numpy() > start)
    rows = [
        {"id": i, "reason": f"diverged: final loss {f:.4g} above its first reported {s:.4g}"}
        for i, f, s in zip(points["id"][bad], points["loss"][bad], start[bad], strict=True)
        if math.isfinite(s)
    ]
    if not rows:
        return points, excluded, curves
    dropped = set(points["id"][bad])
    excluded = pd.concat([excluded, pd.DataFrame(rows)], ignore_index=True)
    return points[~bad].reset_index(drop=True), excluded, curves[~curves["id"].isin(dropped)]
