"""Approaches 1 and 2 with intervals: bootstrap over runs on ``--workers`` processes.

Approach 1 (envelope) takes its frontier over annealed points only (``analysis.laws.annealed``) and
resamples whole runs, every point of a run together. Approach 2 (IsoFLOP)
resamples runs *within* each budget, so every resample keeps the design's budgets: drawing runs
across budgets mixes budget sizes into the noise and widened its intervals 1.6-2.6x in
simulation. Both report which budgets or points were left out, and why.

    res = frontier_result(data, "isoflop", AnalysisConfig(predict=({"C": 1e22},)))
    res.estimates["a"], res.notes, res.warnings
    res = frontier_result(data, "envelope", cfg, progress=print)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from analysis.checks import trust as diag
from analysis.checks.frontier_backtest import frontier_backtests
from analysis.config import AnalysisConfig
from analysis.fit.bootstrap import chunks, cluster_rows, groups_from_ids, run_jobs, summarize
from analysis.laws.annealed import annealed_points
from analysis.laws.forms import Estimate
from analysis.laws.frontier import (
    TooFewMinima,
    budget_labels,
    envelope_frontier,
    isoflop_frontier,
    on_budget_grid,
)
from analysis.laws.loss_laws import Progress
from analysis.laws.result import Backtests, Draws, estimates, frontier_curves, law_result
from analysis.load.sweep_tables import ScalingData
from analysis.outcome import LawResult, Prediction
from contract.results import BUDGET, RUN_ID

NAMES = ("a", "log_kn", "b", "log_kd")
ISOFLOP_BIAS_NOTE = (
    "Approach 2 places each budget's optimum at the vertex of a parabola in log N; when the "
    "loss is not symmetric in log N (alpha != beta, or FLOPs per parameter per token that vary "
    "with N) the vertex misses N* by a few per cent, either way depending on where the sizes sit "
    "around the optimum (about 6-7% low on steep curves in simulation; within 5% on the main "
    "job's design, bench/design_check.py). Not corrected."
)


def planned_budgets(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows of budgets some run was planned for (it ends there), and a note per budget
    left out: a group of cooldown branches alone (a WSD run's point at half its budget, below
    the smallest planned budget) holds sizes chosen for another budget, so its minimum sits at
    the edge of them by design and would only be dropped, or move resamples off their grid."""
    if RUN_ID not in table or not on_budget_grid(table):
        return table, []
    ends = table[table["C"] >= table.groupby(RUN_ID)["C"].transform("max")]
    planned = np.unique(ends[BUDGET].to_numpy(float))
    budgets = table[BUDGET].to_numpy(float)
    keep = np.isclose(budgets[:, None], planned[None, :], rtol=1e-6).any(axis=1)
    notes = [
        f"C={c:.2e}: only cooldown branches of runs planned for larger budgets; left out"
        for c in np.unique(budgets[~keep])
    ]
    return table[keep].reset_index(drop=True), notes


def _strata(labels: np.ndarray, groups: list[np.ndarray]) -> list[np.ndarray]:
    """Run indices per budget (runs on no budget form one stratum of their own)."""
    first_row = np.array([g[0] for g in groups])
    run_label = labels[first_row]
    return [np.flatnonzero(run_label == lab) for lab in np.unique(run_label)]


def _resample(groups, strata, seed: int, i: int) -> np.ndarray:
    if strata is None:
        return cluster_rows(groups, seed, i)
    rng = np.random.default_rng([seed, i])
    picked = [s[rng.integers(0, len(s), size=len(s))] for s in strata]
    return np.concatenate([groups[g] for g in np.concatenate(picked)])


def _frontier_chunk(args: tuple) -> np.ndarray:
    """Resamples [start, stop) of one approach; module level so worker processes can run it.

    Rows are the frontier's parameters and a last column that flags a resample in which too few
    budgets kept a locatable minimum (``TooFewMinima``): drawing a budget's six runs with
    replacement often leaves two or three distinct sizes and no vertex, which the planned design
    never lacks, so such a resample is not applicable rather than failed (as the minima law's);
    ``check_inapplicable`` warns when it is common. Any other error is a failure (NaN).
    """
    start, stop, seed, table, approach, cfg, groups, strata = args
    fitter = envelope_frontier if approach == "envelope" else isoflop_frontier
    out = np.full((stop - start, len(NAMES) + 1), np.nan)
    out[:, -1] = 0.0
    with threadpool_limits(limits=1, user_api="blas"):  # tiny solves; threads only cost here
        for row, i in enumerate(range(start, stop)):
            try:
                out[row, :-1] = fitter(table.iloc[_resample(groups, strata, seed, i)], cfg).vector
            except TooFewMinima:
                out[row, -1] = 1.0
            except (ValueError, np.linalg.LinAlgError):
                pass  # too few points in this resample: a NaN row, counted as failed
    return out


def _dropped_warnings(fit, cfg: AnalysisConfig) -> list[str]:
    if fit.approach != "isoflop" or not fit.n_groups:
        return []
    dropped = fit.n_groups - len(fit.points)
    if dropped / fit.n_groups > cfg.trust.max_dropped_budgets:
        return [
            f"isoflop: {dropped} of {fit.n_groups} FLOP budgets dropped "
            f"({'; '.join(n for n in fit.notes if n.startswith('C='))})"
        ]
    return []


def frontier_result(
    data: ScalingData, approach: str, cfg: AnalysisConfig, progress: Progress | None = None
) -> LawResult:
    """Approach 1 ("envelope") or 2 ("isoflop") with bootstrap intervals and checks."""
    if approach == "envelope":  # a frontier over annealed points only: see analysis.laws.annealed
        frontier = annealed_points(data)
        table, notes = frontier.table, [frontier.note]
    else:
        table, notes = planned_budgets(data.points.reset_index(drop=True))
    fitter = envelope_frontier if approach == "envelope" else isoflop_frontier
    fit = fitter(table, cfg.frontier)
    draws, inapplicable = _frontier_draws(table, approach, cfg, progress)
    c_max = float(data.points["C"].max())
    est = _frontier_estimates(fit, draws, c_max, cfg.bootstrap.level)
    preds = _frontier_predictions(fit, draws, cfg)
    warns = diag.check_bootstrap(approach, draws.values, cfg.trust)
    warns += diag.check_inapplicable(approach, inapplicable, cfg.trust)
    if len(fit.points) < 3:
        warns.append(f"{approach}: only {len(fit.points)} frontier points; exponents are fragile")
    warns += _dropped_warnings(fit, cfg)
    if approach == "envelope":
        notes += diag.one_sided_note(est["a"])
    warns += diag.check_horizon(approach, [p.inputs for p in preds], data.points, cfg.trust)
    bt, rolling = (None, ())
    if cfg.holdout != 0:
        bt, rolling = frontier_backtests(approach, table, fit, _run_budget(data), cfg.frontier)
    warns += diag.check_frontier_backtest(bt, cfg.trust)
    notes += fit.notes
    if approach == "isoflop":
        notes.append(ISOFLOP_BIAS_NOTE)
    return law_result(
        approach,
        fit,
        draws,
        est,
        preds,
        warns,
        runs=table,
        notes=notes,
        backtests=Backtests(bt, rolling),
        reference_c=c_max,
    )


def _frontier_draws(
    table: pd.DataFrame, approach: str, cfg: AnalysisConfig, progress: Progress | None
) -> tuple[Draws, np.ndarray]:
    """(draws of the applicable resamples, a not-applicable flag per resample): the bootstrap
    over runs (within each budget for Approach 2) on ``--workers`` processes."""
    ids = table.get(RUN_ID, None)
    groups = groups_from_ids(None if ids is None else ids.to_numpy(), len(table))
    strata = None
    if approach == "isoflop":
        strata = _strata(budget_labels(table, cfg.frontier)[0], groups)
    boot = cfg.bootstrap
    if progress and boot.n_resamples:
        progress(f"{approach}: bootstrap of {boot.n_resamples} resamples")
    jobs = [
        (a, b, boot.seed, table, approach, cfg.frontier, groups, strata)
        for a, b in chunks(boot.n_resamples, boot.n_workers)
    ]
    rows = np.vstack(run_jobs(_frontier_chunk, jobs, boot, progress)) if jobs else np.empty(0)
    return Draws.applicable(rows, NAMES)


def _frontier_estimates(fit, draws: Draws, c_max: float, level: float) -> dict[str, Estimate]:
    """a, b, both log prefactors, and D/N at the largest run."""
    est = estimates(draws, dict(zip(NAMES, fit.vector, strict=True)), level)
    # D/N = exp(log_kd - log_kn) C^(b - a)
    tpp = np.exp(draws["log_kd"] - draws["log_kn"]) * c_max ** (draws["b"] - draws["a"])
    tpp_draws = Draws(tpp[:, None], ("tokens_per_param",))
    est["tokens_per_param"] = estimates(
        tpp_draws, {"tokens_per_param": fit.tokens_per_param(c_max)}, level
    )["tokens_per_param"]
    return est


def _frontier_predictions(fit, draws: Draws, cfg: AnalysisConfig) -> list[Prediction]:
    """N_opt, D_opt and D/N at every compute target."""
    preds = []
    for point in cfg.predict:
        if "C" in point:
            C = point["C"]
            n, d = frontier_curves(draws, C)
            for q, bs, value in (
                ("N_opt", n, fit.n_opt(C)),
                ("D_opt", d, fit.d_opt(C)),
                ("tokens_per_param", d / n, fit.tokens_per_param(C)),
            ):
                preds.append(
                    Prediction({"C": C}, q, summarize(bs, float(value), cfg.bootstrap.level))
                )
    return preds


def _run_budget(data: ScalingData) -> pd.Series | None:
    """Nominal budget per run (its largest: a WSD run's branches carry fractions of it)."""
    pts = data.points
    if not on_budget_grid(pts):
        return None
    run = (pts[RUN_ID] if RUN_ID in pts.columns else pts["id"]).astype(str)
    return pts[BUDGET].groupby(run).max()
