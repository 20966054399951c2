"""Backtests of Approaches 1 and 2: refit without the largest budgets, predict their optimum.

A law fitted to runs is scored on the losses of held-out runs (``analysis.checks.backtest``); a
frontier predicts an allocation, so it is scored on N_opt and D_opt: the approach is refitted on
the runs of the smaller budgets only (what a smaller sweep would have had) and its N_opt(C) and
D_opt(C) are compared with the held-out budgets' own optima, the frontier points the full fit
located there. Budgets are the ``budget`` column of a compute sweep, else equal steps of log C.

    bt, rolling = frontier_backtests("isoflop", table, full_fit, run_budget, FrontierConfig())
    bt.errors["N_opt"], bt.exponents          # (mean |err|, max |err|, bias), refit a and b
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.checks.backtest import budget_levels
from analysis.laws.frontier import FrontierConfig, FrontierFit, envelope_frontier, isoflop_frontier
from contract.results import RUN_ID

QUANTITIES = ("N_opt", "D_opt")


class FrontierBacktest(NamedTuple):
    """Errors of a frontier refitted without its largest budgets, at those budgets' optima."""

    approach: str
    cutoff: float
    """FLOPs of the smallest held-out budget."""
    n_train: int
    """Runs the refit used."""
    n_holdout: int
    """Held-out frontier points (one per budget for Approach 2)."""
    errors: dict[str, tuple[float, float, float]]
    """N_opt and D_opt -> (mean |rel. error|, max |rel. error|, bias) of the prediction (fractions;
    bias > 0 means the refit predicts more than the held-out optimum)."""
    exponents: dict[str, float]
    """a and b of the refit, to show their drift with scale."""
    table: pd.DataFrame
    """Held-out frontier points: C, N, D and the refit's N_pred, D_pred."""


def _score(approach, fit: FrontierFit, held: pd.DataFrame, n_train: int) -> FrontierBacktest:
    C = held["C"].to_numpy(float)
    pred = {"N_opt": fit.n_opt(C), "D_opt": fit.d_opt(C)}
    errors = {}
    for q, col in zip(QUANTITIES, ("N", "D"), strict=True):
        rel = pred[q] / held[col].to_numpy(float) - 1.0
        errors[q] = (float(np.mean(np.abs(rel))), float(np.max(np.abs(rel))), float(np.mean(rel)))
    table = held[["C", "N", "D"]].assign(N_pred=pred["N_opt"], D_pred=pred["D_opt"])
    return FrontierBacktest(
        approach,
        float(C.min()),
        n_train,
        len(held),
        errors,
        {"a": fit.a, "b": fit.b},
        table.reset_index(drop=True),
    )


def frontier_backtests(
    approach: str,
    table: pd.DataFrame,
    full: FrontierFit,
    run_budget: pd.Series | None,
    cfg: FrontierConfig,
    leave_out: bool = True,
) -> tuple[FrontierBacktest | None, tuple[FrontierBacktest, ...]]:
    """(leave-largest-out, rolling origin) for ``approach`` fitted to ``table``.

    Rolling origin refits on the runs of budgets 1..k and predicts budget k + 1's optimum, for
    every k the approach can be fitted on; leave-largest-out is the step that predicts the
    largest budget (None when ``leave_out`` is False or it cannot be fitted). A run belongs to
    the budget of its largest point (``run_budget``: nominal budget per run, or None).
    """
    fitter = envelope_frontier if approach == "envelope" else isoflop_frontier
    run = (table[RUN_ID] if RUN_ID in table.columns else table["id"]).astype(str)
    run_c = table.groupby(run)["C"].max()
    budgets = None if run_budget is None else run_budget.reindex(run_c.index).to_numpy(float)
    levels, edges = budget_levels(run_c.to_numpy(float), budgets)
    level = pd.Series(levels, index=run_c.index)
    row_level = level.reindex(run).to_numpy()
    point_level = np.searchsorted(edges, np.log10(full.points["C"].to_numpy(float)))
    out: dict[int, FrontierBacktest] = {}
    for k in np.unique(level.to_numpy())[1:]:
        held = full.points[point_level == k]
        train = table[row_level < k]
        if held.empty:
            continue
        try:
            fit = fitter(train, cfg)
        except (ValueError, np.linalg.LinAlgError):
            continue  # too few budgets or points below this one
        out[int(k)] = _score(approach, fit, held, int(run[row_level < k].nunique()))
    largest = out.get(int(level.max())) if leave_out and len(level) else None
    return largest, tuple(out.values())
