"""A sweep folder's learning curves and its scaling-law points beyond each run's own row.

The runner writes every point to points.csv as it is made (contract.points): a run's end, and
each cooldown branch of a wsd run. A run's end is also its trials.csv row, which the loader
already holds; a run with branches is replaced by its branch points, each with the branch's D,
C and loss, the trial's N, and the trial as its run_id so a bootstrap resamples runs. A folder
written before points.csv existed (or trials that ended before a resume added it) gets the same
branch points from its curves.csv, by the same rule (contract.points.branch_point), so old
results folders fit as they always did.

    raw = read_table(curves_path)
    curves = load_curves(raw, points["id"], points, loss_col="eval/loss", metric="eval/loss")
    points = run_points(folder, points, raw, loss_col="eval/loss", metric="eval/loss")
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.laws.forms import derive_missing
from analysis.load.files import POINTS_FILES, first_existing, read_table
from contract.metrics import BRANCH_FRACTION, FLOPS, LR, TOKENS, branch_metric
from contract.points import branch_point
from contract.results import BRANCH, BUDGET, POINT, RUN_ID, TRIAL_ID


def load_curves(
    raw: pd.DataFrame | None, ids: pd.Series, kept: pd.DataFrame, loss_col: str, metric: str
) -> pd.DataFrame | None:
    """Learning curves of the kept runs (id, N, D, C, loss; lr when recorded), N joined from
    their rows; None when the folder has no usable curves.csv."""
    if raw is None:
        return None
    col = loss_col if loss_col in raw.columns else metric
    if TRIAL_ID not in raw.columns or col not in raw.columns:
        return None
    sizes = pd.Series(kept["N"].to_numpy(), index=ids.to_numpy())
    raw = raw[raw[TRIAL_ID].isin(sizes.index)]
    N = sizes.reindex(raw[TRIAL_ID]).to_numpy(dtype=float)
    tokens = pd.to_numeric(raw[TOKENS], errors="coerce").to_numpy(float) if TOKENS in raw else None
    flops = pd.to_numeric(raw[FLOPS], errors="coerce").to_numpy(float) if FLOPS in raw else None
    _, D, C = derive_missing(N, tokens, flops)
    if D is None or C is None:
        return None
    curves = pd.DataFrame(
        {
            "id": raw[TRIAL_ID].to_numpy(),
            "N": N,
            "D": D,
            "C": C,
            "loss": pd.to_numeric(raw[col], errors="coerce").to_numpy(float),
        }
    )
    if LR in raw.columns:  # tells annealed points from intermediate ones (analysis.laws.annealed)
        curves[LR] = pd.to_numeric(raw[LR], errors="coerce").to_numpy(float)
    return curves[np.isfinite(curves[["N", "D", "C", "loss"]]).all(axis=1)].reset_index(drop=True)


def drop_diverged(
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


def _branch_rows(
    folder: Path, raw_curves: pd.DataFrame | None, ids: set[str], metric: str
) -> pd.DataFrame:
    """The branch points of the trials `ids`: points.csv's, then (for trials it does not
    list) those their curves.csv reports make; columns as points.csv's."""
    frames = []
    listed: set[str] = set()
    path = first_existing(folder, POINTS_FILES)
    if path is not None:
        table = read_table(path)
        if {TRIAL_ID, POINT, BRANCH} <= set(table.columns):
            table = table[table[TRIAL_ID].isin(ids)]
            listed = set(table[TRIAL_ID])
            frames.append(table[pd.to_numeric(table[BRANCH], errors="coerce") > 0])
    older = raw_curves is not None and {TRIAL_ID, BRANCH_FRACTION} <= set(raw_curves.columns)
    if older and branch_metric(metric) in raw_curves.columns:
        rest = raw_curves[raw_curves[TRIAL_ID].isin(ids - listed)]
        rest = rest[pd.to_numeric(rest[BRANCH_FRACTION], errors="coerce") > 0]
        made = (branch_point(r[TRIAL_ID], r, metric) for r in rest.to_dict("records"))
        frames.append(pd.DataFrame([r for r in made if r is not None]))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).drop_duplicates([TRIAL_ID, POINT], keep="last")


def run_points(
    folder: Path, points: pd.DataFrame, raw_curves: pd.DataFrame | None, loss_col: str, metric: str
) -> pd.DataFrame:
    """`points` with each run that has cooldown branches replaced by its branch points (the
    1.0 branch is its end): N of the trial, D, C and loss of the branch, the trial as run_id,
    and a compute sweep's nominal budget scaled by the branch's fraction of the run."""
    if not len(points):
        return points
    table = _branch_rows(folder, raw_curves, set(points["id"]), metric)
    loss = loss_col if loss_col in table.columns else metric
    if table.empty or loss not in table.columns:
        return points
    by_id = points.set_index("id")
    rows = []
    for r in table.to_dict("records"):
        fraction = float(r[BRANCH])
        row = {**by_id.loc[r[TRIAL_ID]].to_dict(), "id": r[POINT]}
        row.update(D=float(r[TOKENS]), C=float(r[FLOPS]), loss=float(r[loss]))
        row[RUN_ID] = r[TRIAL_ID]
        if BUDGET in row and pd.notna(row[BUDGET]):
            row[BUDGET] = float(row[BUDGET]) * fraction
        rows.append(row)
    rest = points[~points["id"].isin(set(table[TRIAL_ID]))]
    return pd.concat([rest, pd.DataFrame(rows)[points.columns]], ignore_index=True)
