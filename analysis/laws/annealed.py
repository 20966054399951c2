"""The points a compute frontier may use: those at which a run's learning-rate schedule had ended.

With a cosine or WSD schedule, a point halfway through a run was taken at a learning rate that
had not yet decayed, so its loss sits above what a run that ends there reaches. A frontier over
every learning-curve point is then biased toward small, long-trained models (it gave a = 0.36
against Approach 2's 0.69 on a cosine IsoFLOP sweep). Annealed points are: each run's final
point, each cooldown branch's point (``io`` turns a WSD trial into them), and curve points whose
learning rate already equals the run's final one and never rises again (a constant schedule
after warmup).

    frontier = annealed_points(data)
    frontier.table[["id", "run_id", "N", "D", "C", "loss"]], frontier.note
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.load.sweep_tables import ScalingData
from contract.metrics import LR
from contract.results import RUN_ID

LR_TOLERANCE = 0.01
"""A point is annealed when its learning rate is within this of the run's final one (fraction)."""
COLUMNS = ["id", RUN_ID, "N", "D", "C", "loss"]


class AnnealedPoints(NamedTuple):
    """Rows a compute frontier is taken over, and a sentence saying which they are."""

    table: pd.DataFrame
    """id, run_id, N, D, C, loss; rows of one run share its run_id (the bootstrap's unit)."""
    note: str


def annealed_mask(curves: pd.DataFrame, tolerance: float = LR_TOLERANCE) -> np.ndarray:
    """Per curve row (``id``, ``D``, ``lr``): annealed and not the run's last report.

    A row is annealed when its learning rate is within ``tolerance`` of the run's final one and
    never rises more than ``tolerance`` above it later (so warmup points of a constant schedule
    do not count). The last report is left out: the run's final point comes from its results row.
    """
    order = curves.sort_values(["id", "D"], kind="stable")
    lr = order[LR].to_numpy(float)
    grouped = order.groupby("id", sort=False)[LR]
    final = grouped.transform("last").to_numpy(float)
    later_max = order[LR][::-1].groupby(order["id"][::-1], sort=False).cummax()[::-1].to_numpy()
    last = ~order["id"].duplicated(keep="last").to_numpy()
    ok = (
        np.isfinite(lr)
        & (np.abs(lr - final) <= tolerance * np.abs(final))
        & (later_max <= lr * (1 + tolerance))
        & ~last
    )
    return pd.Series(ok, index=order.index).reindex(curves.index).to_numpy()


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    run = table[RUN_ID] if RUN_ID in table.columns else table["id"]
    return table.assign(**{RUN_ID: run.astype(str)})[COLUMNS]


def annealed_points(data: ScalingData, tolerance: float = LR_TOLERANCE) -> AnnealedPoints:
    """The rows Approach 1 and the compute law take their frontier over, with a note.

    Without learning curves the table's rows are runs' final points and are used as given;
    with curves but no ``lr`` column every curve point is used as given (nothing tells which
    had an annealed learning rate), and the note says so.
    """
    points = data.points
    curves = data.curves
    if curves is None or curves.empty:
        note = "frontier points: the table's rows as given (no learning curves)"
        return AnnealedPoints(_rows(points).reset_index(drop=True), note)
    if LR not in curves.columns or curves[LR].isna().all():
        note = (
            f"frontier points: all {len(curves)} learning-curve points as given (curves.csv has "
            "no lr values to tell which points had an annealed learning rate)"
        )
        return AnnealedPoints(_rows(curves).reset_index(drop=True), note)
    keep = annealed_mask(curves, tolerance)
    ends = _rows(points)
    table = pd.concat([ends, _rows(curves[keep])], ignore_index=True)
    n_branch = int((ends["id"] != ends[RUN_ID]).sum())
    n_left = int(len(curves) - keep.sum() - curves["id"].nunique())
    note = (
        f"frontier points: {len(ends) - n_branch} run ends, {n_branch} cooldown-branch points and "
        f"{int(keep.sum())} curve points already at their run's final learning rate; "
        f"{n_left} intermediate curve points left out, their learning rate not yet decayed "
        "(such a point's loss sits above that of a run ending there)"
    )
    return AnnealedPoints(table, note)
