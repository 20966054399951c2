"""The loss at each IsoFLOP minimum as a law of its own: L*(C) = E + A C^-alpha.

Approach 2 locates each budget's optimum with a parabola in log N; its vertex also gives the
lowest loss that budget reaches. This law fits a floor plus a power law through those vertex
losses, one point per budget: Approach 2's counterpart for the loss. It assumes no joint form
L(N, D), so where Approach 3's surface bends away from the data at the optimum (the published
Marin sweeps: +2.9 to +3.3 % at 3x) this law does not inherit the miss. Intervals come from a
residual bootstrap over the fixed design: every run keeps its size and budget, its loss is its
budget parabola's value times a drawn residual, and both the vertices and the law are refitted.

    res = minima_result(data, AnalysisConfig(predict=({"C": 1e21},)))
    res.estimates["alpha"], res.predictions, res.rolling      # rolling origin, by budget
    points = minima_points(data.points, FrontierConfig())       # C, loss per budget
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from analysis.checks import trust as diag
from analysis.checks.backtest import BacktestResult, score_refit
from analysis.config import AnalysisConfig
from analysis.fit.bootstrap import chunks, run_jobs, summarize
from analysis.fit.power_sums import (
    FitConfig,
    fit_power_law,
    grid_objective,
    projected_thetas,
    refine_unthrottled,
    to_natural,
)
from analysis.laws.frontier import (
    FrontierConfig,
    isoflop_frontier,
    parabola_residuals,
)
from analysis.laws.frontier_fits import planned_budgets
from analysis.laws.loss_laws import Progress, backtest_checks
from analysis.laws.result import Backtests, Draws, estimates, law_result, power_curves
from analysis.outcome import LawResult, Prediction

NAMES = ("E", "A", "alpha")
MIN_BUDGETS = 4
"""Located minima needed: three parameters and at least one degree of freedom (count)."""


def minima_points(table: pd.DataFrame, cfg: FrontierConfig) -> pd.DataFrame:
    """One row per budget with a located minimum: id, C (the budget), loss (the vertex)."""
    pts = isoflop_frontier(table, cfg).points
    out = pts[["C", "loss"]].sort_values("C").reset_index(drop=True)
    return out.assign(id=[f"C={c:.3g}" for c in out["C"]])


def fit_minima(points: pd.DataFrame, cfg: FitConfig | None = None):
    """L*(C) through the per-budget minima; refuses fewer than ``MIN_BUDGETS`` of them."""
    if len(points) < MIN_BUDGETS:
        raise ValueError(
            f"minima: {len(points)} budgets with a located minimum; need {MIN_BUDGETS}+"
        )
    return fit_power_law(points["C"], points["loss"], x="C", config=cfg)


def _refit(logc: np.ndarray, logy: np.ndarray, theta: np.ndarray, cfg: FitConfig) -> np.ndarray:
    """One resample's law from the better of the full-data optimum and its projected start."""
    lx = logc[None]
    cands = np.vstack([theta[None], projected_thetas(lx, logy, cfg)])
    best = cands[np.argmin(grid_objective(cands, lx, logy, cfg.huber_delta))]
    results = refine_unthrottled(best[None], lx, logy, cfg)
    return results[0][1] if results else np.full(3, np.nan)


def _minima_chunk(args: tuple) -> np.ndarray:
    """Resamples [start, stop): each run's loss redrawn around its budget parabola (the design
    fixed), vertices relocated, law refitted.

    Why residuals, not runs: an IsoFLOP design is chosen, not sampled. Drawing runs with
    replacement within a budget of six sizes leaves two or three distinct sizes often enough
    that a budget loses its vertex, and a six-budget sweep then falls below the four located
    minima this law needs in 10-20 % of resamples: failures the design would never produce,
    counted against the fit. Redrawing the noise keeps every planned size.

    Rows are (E, A, alpha, inapplicable). A resample whose noise still hides a vertex on so many
    budgets that fewer than four remain is marked inapplicable (1), not failed: the law was not
    fitted, so it says nothing about whether its parameters are identified; the interval is then
    conditional on the minima being locatable, and ``check_inapplicable`` warns when that
    condition fails often enough to matter. A resample whose refit fails stays a failure (NaN).
    """
    start, stop, seed, table, fcfg, fitcfg, fitted, resid, theta = args
    out = np.full((stop - start, 4), np.nan)
    out[:, 3] = 0.0
    with threadpool_limits(limits=1, user_api="blas"):
        for row, i in enumerate(range(start, stop)):
            rng = np.random.default_rng([seed, i])
            drawn = fitted * np.exp(resid[rng.integers(0, len(resid), size=len(fitted))])
            moved = np.where(np.isnan(fitted), table["loss"].to_numpy(float), drawn)
            try:
                pts = minima_points(table.assign(loss=moved), fcfg)
            except (ValueError, np.linalg.LinAlgError):
                pts = None
            if pts is None or len(pts) < MIN_BUDGETS:
                out[row, 3] = 1.0  # too few budgets located: the law does not apply here
                continue
            logc, logy = np.log(pts["C"].to_numpy(float)), np.log(pts["loss"].to_numpy(float))
            out[row, :3] = to_natural(_refit(logc, logy, theta, fitcfg))
    return out


def budget_backtests(
    points: pd.DataFrame, cfg: FitConfig | None = None
) -> tuple[BacktestResult | None, tuple[BacktestResult, ...], tuple[BacktestResult, ...]]:
    """(leave-largest-out, rolling origin, leave-one-budget-out) on the per-budget minima.

    Leave-largest-out refits without the largest budget and predicts its minimum; rolling origin
    predicts budget k + 1 from budgets 1..k; leave-one-budget-out predicts each budget from all
    the others. A split that leaves fewer than ``MIN_BUDGETS`` budgets is skipped.
    """

    def one(train: pd.DataFrame, test: pd.DataFrame) -> BacktestResult | None:
        if len(train) < MIN_BUDGETS:
            return None
        try:
            return score_refit(train, test, "power", "C", "C", cfg)._replace(law="minima")
        except ValueError:
            return None

    n = len(points)
    rolling = tuple(r for k in range(1, n) if (r := one(points.iloc[:k], points.iloc[[k]])))
    largest = one(points.iloc[:-1], points.iloc[[-1]])
    lobo = tuple(
        r for k in range(n) if (r := one(points.drop(index=points.index[k]), points.iloc[[k]]))
    )
    return largest, rolling, lobo


def minima_result(
    data: pd.DataFrame | object, cfg: AnalysisConfig, progress: Progress | None = None
) -> LawResult:
    """The minima law with intervals (a residual bootstrap over the fixed design), predictions at every
    compute target, its three backtests and its identification checks."""
    table, left_out = planned_budgets(data.points.reset_index(drop=True))
    points = minima_points(table, cfg.frontier)
    fit = fit_minima(points, cfg.fit)
    draws, inapplicable = _minima_draws(table, fit, cfg, progress)
    boot = cfg.bootstrap
    est = estimates(draws, fit.params, boot.level)
    preds = []
    for point in cfg.predict:
        if "C" in point:
            C = point["C"]
            est_c = summarize(power_curves(draws, C), float(fit.predict(C)), boot.level)
            preds.append(Prediction({"C": C}, "loss_opt", est_c))
    backtests = Backtests() if cfg.holdout == 0 else Backtests(*budget_backtests(points, cfg.fit))
    box = np.array([cfg.fit.log_floor_bounds, cfg.fit.log_coef_bounds, cfg.fit.exponent_bounds])
    raw = np.column_stack([np.log(draws["E"]), np.log(draws["A"]), draws["alpha"]])
    samples = draws.values
    warns = [
        *diag.check_design_points(
            "minima", fit._replace(n_points=len(table)), points[["C"]], cfg.trust
        ),
        *diag.check_identification("minima", fit, est, samples, raw, box, cfg.trust),
        *diag.check_inapplicable("minima", inapplicable, cfg.trust),
        *diag.check_horizon("minima", [p.inputs for p in preds], table, cfg.trust),
        *backtest_checks("minima", *backtests, cfg.trust),
    ]
    notes = [
        f"fitted to the lowest loss of {len(points)} budgets (each the vertex of Approach 2's "
        "parabola in log N); intervals redraw each run's noise around its budget's parabola "
        "(sizes fixed) and relocate the vertices",
        *left_out,
        *diag.width_notes(est, cfg.trust),
    ]
    return law_result(
        "minima",
        fit,
        draws,
        est,
        preds,
        warns,
        runs=table,
        notes=notes,
        backtests=backtests,
        reference_c=float(points["C"].max()),
        points=points,
    )


def _minima_draws(
    table: pd.DataFrame, fit, cfg: AnalysisConfig, progress: Progress | None
) -> tuple[Draws, np.ndarray]:
    """(draws of the resamples the law applied to, which resamples it did not apply to)."""
    theta = np.array([np.log(fit.E), np.log(fit.A), fit.alpha])
    # Residuals are drawn by position: in the points' own order (sorted by id), the interval is
    # the data's, not that of the order in which the runs happened to finish.
    table = table.sort_values("id", kind="stable").reset_index(drop=True)
    fitted, resid = parabola_residuals(table, cfg.frontier)
    boot = cfg.bootstrap
    if progress and boot.n_resamples:
        progress(f"minima: bootstrap of {boot.n_resamples} resamples")
    jobs = [
        (a, b, boot.seed, table, cfg.frontier, cfg.fit, fitted, resid, theta)
        for a, b in chunks(boot.n_resamples, boot.n_workers)
    ]
    rows = np.vstack(run_jobs(_minima_chunk, jobs, boot, progress)) if jobs else np.empty(0)
    return Draws.applicable(rows, NAMES)
