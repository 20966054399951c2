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

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.checks.backtest import budget_levels
from analysis.laws.frontier import (
    FrontierConfig,
    FrontierFit,
    _budget_fit,
    budget_labels,
    envelope_frontier,
    isoflop_frontier,
)
from contract.results import RUN_ID

Z95 = 1.959964
"""Half-width of a central 95 % normal interval in standard deviations."""

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


def vertex_interval(
    x: np.ndarray, y: np.ndarray, cfg: FrontierConfig
) -> tuple[float, float] | None:
    """95 % interval of the log10 N a budget's parabola puts its minimum at (the vertex Approach
    2 reads), by the delta method on the parabola's coefficients; None when none is located."""
    coef, xs, vertex, _ = _budget_fit(x, y, cfg)
    if vertex is None or len(xs) < 4:
        return None
    ys = y[np.isin(x, xs)]
    V = np.vander(xs, 3)
    resid = ys - V @ coef
    cov = np.linalg.pinv(V.T @ V) * float(resid @ resid) / (len(xs) - 3)
    c2, c1, _ = coef
    grad = np.array([c1 / (2 * c2**2), -1 / (2 * c2), 0.0])
    half = Z95 * math.sqrt(max(float(grad @ cov @ grad), 0.0))
    return vertex[0] - half, vertex[0] + half


def held_intervals(table: pd.DataFrame, held: pd.DataFrame, cfg: FrontierConfig) -> pd.DataFrame:
    """``held`` with N_lo, N_hi: the 95 % interval of each held-out budget's own vertex (NaN
    where none is located), so a backtest can tell a miss from the target's own noise."""
    labels, centres = budget_labels(table, cfg)
    N, loss = table["N"].to_numpy(float), table["loss"].to_numpy(float)
    lo, hi = [], []
    for c in held["C"].to_numpy(float):
        g = np.flatnonzero(np.isclose(centres, c, rtol=1e-6))
        member = np.isin(labels, g)
        span = vertex_interval(np.log10(N[member]), loss[member], cfg) if member.any() else None
        lo.append(10 ** span[0] if span else np.nan)
        hi.append(10 ** span[1] if span else np.nan)
    return held.assign(N_lo=lo, N_hi=hi)


def _score(approach, fit: FrontierFit, held: pd.DataFrame, n_train: int) -> FrontierBacktest:
    C = held["C"].to_numpy(float)
    pred = {"N_opt": fit.n_opt(C), "D_opt": fit.d_opt(C)}
    errors = {}
    for q, col in zip(QUANTITIES, ("N", "D"), strict=True):
        rel = pred[q] / held[col].to_numpy(float) - 1.0
        errors[q] = (float(np.mean(np.abs(rel))), float(np.max(np.abs(rel))), float(np.mean(rel)))
    cols = [c for c in ("C", "N", "D", "N_lo", "N_hi") if c in held.columns]
    table = held[cols].assign(N_pred=pred["N_opt"], D_pred=pred["D_opt"])
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
        if approach == "isoflop" and not held.empty:
            held = held_intervals(table, held, cfg)
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
