"""Score a forecast against the run it predicted and keep the ledger of every forecast.

The forecast run's folder is loaded like any sweep; the run at N* on the target budget gives
the realised final loss (with seeds, their mean: a law predicts the mean loss, and one seed's
draw would be scored as the forecast's error); with neighbours (smaller and larger sizes on
the same budget) the score also says whether N* was the best of its budget. One row per forecast goes to ``forecasts.csv``
at the storage root (the run folder's parent), never twice for the same forecast and run.

    forecast = read_forecast("results/scaling/fit/forecast.json", "--score")
    row = score_run(Path("results/scaling-forecast"), forecast)
    append_row(Path("results") / LEDGER_FILE, row)
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.load.sweep_tables import load_scaling_data
from contract.forecast import (
    FORECAST_FILE,
    LEDGER_COLUMNS,
    LEDGER_FILE,
    Forecast,
    read_forecast,
    score_row,
)
from contract.metrics import PARAMS
from contract.results import BUDGET, CONFIG_FILE, find_trial_dir, read_trial_record

SHAPE_KEYS = ("d_model", "n_layers", "n_heads", "d_ff")
BUDGET_TOLERANCE = 0.05
"""Runs within this relative distance of the target FLOPs count as on its budget."""
RUN_SEPARATOR = "+"
"""Joins the ids of the runs at N* (its seeds) in a ledger row's ``run``: their mean is scored."""

__all__ = ["LEDGER_FILE", "append_row", "read_ledger", "score_run"]


def _run_shape(folder: Path, trial_id: str, params: float) -> dict[str, int]:
    """The scored run's model shape as its trial folder records it (set by the launcher)."""
    trial_dir = find_trial_dir(folder, trial_id)
    model: dict[str, Any] = {}
    if trial_dir is not None and (trial_dir / CONFIG_FILE).is_file():
        model = read_trial_record(trial_dir).config.get("model") or {}
    shape = {k: int(model[k]) for k in SHAPE_KEYS if model.get(k) is not None}
    return {**shape, PARAMS: int(params)}


def score_run(folder: Path, forecast: Forecast, where: str | None = None) -> dict[str, Any]:
    """The ledger row of ``forecast`` scored on the finished run(s) in ``folder``."""
    data = load_scaling_data(folder, where=where)
    pts = data.points
    if pts.empty:
        raise ValueError(f"--score: {folder}: no finished run to score ({len(data.excluded)} not)")
    if BUDGET in pts and pts[BUDGET].notna().any():
        cost = pts[BUDGET].to_numpy(float)
    else:
        cost = pts["C"].to_numpy(float)
    on_budget = pts[np.abs(cost / forecast.target_flops - 1) <= BUDGET_TOLERANCE]
    if on_budget.empty:
        raise ValueError(
            f"--score: {folder}: no finished run near the target C={forecast.target_flops:.3g}"
        )
    miss = np.abs(np.log(on_budget["N"].to_numpy(float) / forecast.n_star.value))
    nearest = float(on_budget["N"].iloc[int(np.argmin(miss))])
    by_size = on_budget.groupby("N")["loss"].mean()  # seeds of one size: their mean
    at_n_star = on_budget[on_budget["N"] == nearest].sort_values("id")
    best = None
    if len(by_size) > 1:  # neighbours: was N* the best of its budget?
        best = bool(by_size[nearest] <= by_size.min())
    row = score_row(
        forecast,
        realised_loss=float(by_size[nearest]),
        scored_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        run=f"{Path(folder).name}/{RUN_SEPARATOR.join(at_n_star['id'].astype(str))}",
        best_of_budget=best,
        shape=_run_shape(Path(folder), str(at_n_star["id"].iloc[0]), nearest),
    )
    row["n_star"] = nearest  # the count the run really had (the shape rule's nearest)
    return row


def read_ledger(path: Path) -> pd.DataFrame:
    """The ledger as a table (empty with the ledger's columns when absent)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:  # absent, or created but not yet written
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    return pd.read_csv(path, dtype={"forecast_id": str, "rows_hash": str, "commit": str})


def append_row(path: Path, row: dict[str, Any]) -> bool:
    """Append ``row`` to the ledger; False (nothing written) when this forecast and run are
    already scored, so a resumed pipeline does not count a run twice.

    Sweeps sharing a storage root share its ledger and may score at the same moment: the
    read, the check and the write happen under an exclusive lock on the file (without it,
    simultaneous first writers each wrote a header, and a reader of a file created but not yet
    written failed on it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        existing = read_ledger(path)  # empty while the file is
        done = set(
            zip(existing["forecast_id"].astype(str), existing["run"].astype(str), strict=True)
        )
        if (str(row["forecast_id"]), str(row["run"])) in done:
            return False
        writer = csv.DictWriter(f, fieldnames=list(LEDGER_COLUMNS), extrasaction="ignore")
        if path.stat().st_size == 0:
            writer.writeheader()
        writer.writerow(row)
    return True


def verdict(row: dict[str, Any]) -> str:
    """One line for the terminal and the report."""
    best = row.get("best_of_budget")
    tail = "" if best in ("", None) else f"; N* {'was' if best else 'was NOT'} best of its budget"
    runs = str(row.get("run", "")).count(RUN_SEPARATOR) + 1
    seeds = f" (mean of {runs} seeds)" if runs > 1 else ""
    return (
        f"forecast {row['forecast_id']}: predicted {row['predicted_loss']:.4f} "
        f"(95 %: {row['lo95']:.4f}-{row['hi95']:.4f}), realised {row['realised_loss']:.4f}{seeds}, "
        f"error {row['error_pct']:+.2f} %, inside 80 %: {row['inside80']}, "
        f"inside 95 %: {row['inside95']}{tail}"
    )


def preregistered(folder: Path) -> list[str]:
    """Lines for each forecast preregistered inside a sweep folder (a forecast stage's
    ``<stage>-forecast/forecast.json``) with its score when the ledger at the storage root has
    it, so a fit of the sweep shows how its own forecast fared."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    ledger = read_ledger(folder.resolve().parent / LEDGER_FILE)
    lines = []
    for path in sorted(folder.glob(f"*/{FORECAST_FILE}")):
        try:
            f = read_forecast(path, "--score")
        except ValueError:
            continue
        loss = f.loss
        lines.append(
            f"preregistered forecast {f.forecast_id} ({path.parent.name}/): "
            f"C={f.target_flops:.3g}, N*={f.n_star.value:.3g} ({f.chosen}), loss "
            f"{loss.value:.4f} (95 %: {loss.lo95:.4f}-{loss.hi95:.4f})"
        )
        rows = ledger[ledger["forecast_id"].astype(str) == f.forecast_id]
        # A CSV's empty cell reads back as NaN, which verdict would take for a best_of_budget.
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        lines += [f"  scored: {verdict(row)}" for row in records]
        if rows.empty:
            lines.append("  not scored yet: its run has not finished")
    return lines
