"""The trust gate: plain-language warnings about fits that are not reliable.

A warning means "do not act on this": parameters the data do not identify, approaches that
disagree, backtests that miss or whose intervals do not cover what was held out
(``analysis.checks.calibration``), a forecast beyond what the design supports, or a design that
cannot support the law. How precise a reliable fit is (the width of each interval) is never a
warning: it is graded in ``analysis.checks.precision``. Each check is one function with its
threshold in ``TrustConfig``; ``Analysis.trusted`` is False as soon as one warns.

    warnings = check_identification("chinchilla", fit, estimates, samples, raw, box, cfg)
    warnings += check_design_points("chinchilla", fit, points[["N", "D"]], cfg)
    warnings += check_horizon("chinchilla", [{"C": 1e22}], points, cfg)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import BaseModel

from analysis.checks.frontier_backtest import FrontierBacktest
from analysis.laws.forms import ChinchillaFit, Estimate, PowerLawFit
from analysis.laws.frontier import FrontierConfig, _budget_fit
from contract.config import FROZEN
from contract.results import BUDGET, RUN_ID


class TrustConfig(BaseModel):
    """Thresholds of the reliability checks (precision is graded apart, never warned about)."""

    model_config = FROZEN

    min_points_per_param: float = 3.0
    """Design: runs needed per fitted parameter before a fit counts as supported (ratio)."""
    min_decades: float = 1.0
    """Design: smallest span of each fitted variable, and of the nominal budgets, max/min
    (decades)."""
    max_start_spread: float = 0.01
    """Identification: largest relative parameter disagreement between starts that tie on the
    objective."""
    max_backtest_error: float = 0.02
    """Calibration: largest mean |relative error| of any kind of backtest on its held-out
    points (fraction)."""
    max_frontier_backtest_error: float = 0.5
    """Calibration: largest mean |relative error| of Approach 1 or 2's N_opt at the held-out
    largest budget (fraction). An optimum off by more than half is more than one step of a
    typical IsoFLOP size grid (sizes 1.5-2x apart) away: the refit would pick another model."""
    min_judged_span: float = 0.5
    """Calibration: backtests whose refit saw under this share of the decades the law's full
    fit saw are shown but not judged (fraction)."""
    min_calibration_points: int = 5
    """Calibration: held-out points with a refit interval needed before coverage is judged."""
    calibration_confidence: float = 0.99
    """Calibration: held-out points outside the refits' 95 % intervals beyond this binomial
    quantile of chance are a warning (probability)."""
    min_calibration_dof: int = 3
    """Calibration: degrees of freedom a refit needs (points - parameters) to claim an
    interval; refits with fewer are scored on their error only (count)."""
    max_horizon_factor: float = 10.0
    """Horizon: forecasts beyond this multiple of the largest run's value are flagged (ratio)."""
    max_horizon_span: float = 1.0
    """Horizon: forecasts further beyond the largest run, in decades, than this multiple of
    the decades the runs span are flagged (ratio)."""
    max_failed_resamples: float = 0.05
    """Identification: largest share of bootstrap resamples whose fit failed (fraction)."""
    max_inapplicable_resamples: float = 0.2
    """Identification: largest share of bootstrap resamples in which a law could not be fitted
    at all (the minima law: fewer than four budgets with a located minimum); its interval is
    conditional on the rest, which is a fair summary only while they are most (fraction)."""
    max_resamples_at_bound: float = 0.05
    """Identification: largest share of resamples with a parameter on the search bound."""
    max_ratio_width: float = 10.0
    """Identification: largest hi/lo of a positive parameter's interval: E, alpha, beta (ratio);
    wider A and B intervals are noted, not warned about (a prefactor moves with its exponent)."""
    min_tokens_per_param: float = 1.0
    """Design: runs with fewer training tokens per parameter are named as under-trained."""
    max_lack_of_fit_p: float = 0.01
    """Form: a law whose residuals curve in its log inputs with a p-value below this is
    flagged (``analysis.checks.lack_of_fit``; probability)."""
    max_dropped_budgets: float = 0.2
    """Design: largest share of IsoFLOP budgets dropped before Approach 2 is flagged."""


def check_design_points(
    law: str, fit: PowerLawFit | ChinchillaFit, variables: pd.DataFrame, cfg: TrustConfig
) -> list[str]:
    """Design: enough runs per parameter, and every fitted variable spanning enough decades."""
    out = []
    n_params = len(fit.params)
    if fit.n_points < cfg.min_points_per_param * n_params:
        out.append(
            f"{law}: only {fit.n_points} runs for {n_params} parameters "
            f"(want {math.ceil(cfg.min_points_per_param * n_params)}+)"
        )
    for var in variables.columns:
        values = variables[var].to_numpy(float)
        span = float(np.log10(values.max() / values.min()))
        if span < cfg.min_decades:
            out.append(f"{law}: {var} spans only {span:.2f} decades (want {cfg.min_decades:g}+)")
    return out


IDENTIFIED = ("E", "alpha", "beta")
"""Positive parameters whose interval must stay within ``max_ratio_width``."""


def check_identification(
    law: str,
    fit: PowerLawFit | ChinchillaFit,
    estimates: dict[str, Estimate],
    samples: np.ndarray,
    raw: np.ndarray,
    box: np.ndarray,
    cfg: TrustConfig,
) -> list[str]:
    """Identification: the fit on a bound, starts that disagree, failed resamples, resamples
    on a bound, a positive parameter whose interval spans more than ``max_ratio_width``."""
    out = []
    if fit.at_bound:
        out.append(
            f"{law}: {', '.join(fit.at_bound)} ended on the search bound; the law may not fit"
        )
    if fit.start_spread > cfg.max_start_spread:
        spread = "over 100%" if fit.start_spread > 1 else f"{fit.start_spread:.1%}"
        out.append(
            f"{law}: starts with the same objective disagree by {spread}; "
            "parameters are not identified by this data"
        )
    out += check_bootstrap(law, samples, cfg)
    out += check_at_bound(law, raw, box, cfg)
    for name in IDENTIFIED:
        est = estimates.get(name)
        if est is None or not (math.isfinite(est.lo) and math.isfinite(est.hi)):
            continue
        if est.lo <= 0 < est.hi:
            out.append(f"{law}: {name} is not identified (interval reaches 0)")
        elif est.lo > 0 and est.hi / est.lo > cfg.max_ratio_width:
            out.append(
                f"{law}: {name} is not identified (interval {est.lo:.3g} to {est.hi:.3g}, "
                f"{est.hi / est.lo:.0f}x)"
            )
    return out


def check_bootstrap(law: str, samples: np.ndarray, cfg: TrustConfig) -> list[str]:
    if len(samples) == 0:
        return []
    failed = float(np.mean(~np.isfinite(samples).all(axis=1)))
    if failed > cfg.max_failed_resamples:
        return [f"{law}: {failed:.0%} of bootstrap resamples failed to fit"]
    return []


def check_inapplicable(law: str, inapplicable: np.ndarray, cfg: TrustConfig) -> list[str]:
    """Identification: too many resamples in which the law does not apply (flags, one per
    resample). Such a resample is not a failed fit, so ``check_bootstrap`` does not count it;
    but an interval from the few resamples left would describe a sweep luckier than this one."""
    if len(inapplicable) == 0:
        return []
    share = float(np.mean(inapplicable))
    if share > cfg.max_inapplicable_resamples:
        return [f"{law}: the law could not be fitted in {share:.0%} of bootstrap resamples"]
    return []


def check_at_bound(law: str, theta: np.ndarray, box: np.ndarray, cfg: TrustConfig) -> list[str]:
    """Share of bootstrap resamples (log-space ``theta`` (R, p)) with a parameter on ``box``."""
    ok = np.isfinite(theta).all(axis=1)
    if not ok.any():
        return []
    width = box[:, 1] - box[:, 0]
    edge = (np.abs(theta[ok] - box[:, 0]) < 1e-6 * width) | (
        np.abs(theta[ok] - box[:, 1]) < 1e-6 * width
    )
    share = float(edge.any(axis=1).mean())
    if share > cfg.max_resamples_at_bound:
        return [f"{law}: {share:.1%} of bootstrap resamples ended on a search bound"]
    return []


SCALE_COEFFICIENTS = ("A", "B")
"""Prefactors of a power law: their width is reported, never a trust warning (see width_notes)."""


def width_notes(estimates: dict[str, Estimate], cfg: TrustConfig) -> list[str]:
    """Notes (not warnings) on prefactors A and B whose interval spans more than
    ``max_ratio_width``.

    A prefactor is almost collinear with its exponent: across resamples A moves by decades
    while A X^-alpha, over the fitted range, barely moves. A wide A therefore says little about
    a forecast on its own; what it does to one already shows in the exponent's and the predicted
    loss's intervals, which stay trust warnings.
    """
    out = []
    for name in SCALE_COEFFICIENTS:
        est = estimates.get(name)
        if est is None or not (math.isfinite(est.lo) and math.isfinite(est.hi)):
            continue
        if est.lo > 0 and est.hi / est.lo > cfg.max_ratio_width:
            span = f"interval {est.lo:.3g} to {est.hi:.3g}, {est.hi / est.lo:.0f}x"
        elif est.lo <= 0 < est.hi:
            span = "interval reaches 0"
        else:
            continue
        out.append(
            f"{name} is not identified on its own ({span}); it moves with its exponent, so its "
            "effect on forecasts is in the exponent and predicted-loss intervals"
        )
    return out


def one_sided_note(est: Estimate) -> list[str]:
    """A note (precision, not reliability) when a point estimate sits on its interval's edge."""
    if math.isfinite(est.lo) and not est.lo < est.value < est.hi:
        return [
            "the estimate of a sits at its interval's edge (a bootstrap of a minimum is "
            "one-sided); read the interval as a range, not a coverage statement"
        ]
    return []


def check_agreement(values: dict[str, Estimate], quantity: str = "a") -> list[str]:
    """Agreement: two approaches whose ``quantity`` each lies outside the other's interval.

    Mutual, so a point estimate a hair outside a neighbour's interval (a flip with the host's
    floating-point arithmetic) is not a disagreement while the other's point sits inside its own.
    """
    out = []
    names = list(values)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            ex, ey = values[x], values[y]
            if not (math.isfinite(ex.lo) and math.isfinite(ey.lo)):
                continue
            if not ey.lo <= ex.value <= ey.hi and not ex.lo <= ey.value <= ex.hi:
                out.append(
                    f"approaches disagree on {quantity}: {x} {ex.value:.3f} [{ex.lo:.3f}, "
                    f"{ex.hi:.3f}] and {y} {ey.value:.3f} [{ey.lo:.3f}, {ey.hi:.3f}] each lie "
                    "outside the other's interval"
                )
    return out


def check_frontier_backtest(bt: FrontierBacktest | None, cfg: TrustConfig) -> list[str]:
    """N_opt at the held-out largest budget missed by more than ``max_frontier_backtest_error``,
    and outside the 95 % interval of that budget's own vertex where one is known.

    The target is itself a noisy parabola vertex: at 1-1.5 % noise a six-size budget places its
    optimum only to within a factor 1.5-2, and 2-4 of 20 replicates of a correct law missed it
    by over half. A prediction inside the held-out vertex's interval is no evidence that the
    allocation fails to extrapolate; one outside it, and off by more than the limit, is."""
    if bt is None or bt.errors["N_opt"][0] <= cfg.max_frontier_backtest_error:
        return []
    t = bt.table
    if {"N_lo", "N_hi"} <= set(t.columns):
        inside = (t["N_pred"] >= t["N_lo"]) & (t["N_pred"] <= t["N_hi"])
        if inside.all():
            return []
    return [
        f"{bt.approach}: backtest N_opt error {bt.errors['N_opt'][0]:.0%} at the largest budget "
        f"(C >= {bt.cutoff:.3g}; limit {cfg.max_frontier_backtest_error:.0%}), outside that "
        "budget's own located optimum's 95 % interval; the allocation does not extrapolate"
    ]


def horizon_limit(values: np.ndarray, cfg: TrustConfig) -> float:
    """Decades beyond the largest value a forecast may reach: log10 of ``max_horizon_factor``,
    or ``max_horizon_span`` times the decades ``values`` span, whichever is less."""
    span = float(np.log10(values.max() / values.min())) if values.min() > 0 else 0.0
    return min(math.log10(cfg.max_horizon_factor), cfg.max_horizon_span * span)


def check_horizon(
    law: str, points: list[dict[str, float]], data: pd.DataFrame, cfg: TrustConfig
) -> list[str]:
    """Horizon: a prediction further beyond the largest run than the design supports.

    Along C the reference is the nominal budgets when the rows have them (the IsoFLOP groups),
    else the rows' C; along N or D the rows' values.
    """
    out: list[str] = []
    for point in [dict(t) for t in dict.fromkeys(tuple(p.items()) for p in points)]:
        for var, value in point.items():
            col = BUDGET if var == "C" and BUDGET in data and data[BUDGET].notna().all() else var
            if col not in data or not data[col].notna().any():
                continue
            values = data[col].to_numpy(float)
            beyond = math.log10(value / float(values.max()))
            limit = horizon_limit(values, cfg)
            if beyond > limit + 1e-9:
                out.append(
                    f"{law}: forecast at {var}={value:.3g} is {beyond:.2f} decades beyond the "
                    f"largest run; the design supports {limit:.2f} (runs span "
                    f"{np.log10(values.max() / values.min()):.2f} decades)"
                )
    return out


def check_edge_minima(table: pd.DataFrame, cfg: TrustConfig) -> list[str]:
    """Design: a budget whose optimum may lie beyond its smallest or largest size, so the
    minimum the frontier reads there is a bound.

    The lowest run alone is not the test: on a flat minimum at 1-1.5 % noise the lowest run
    lands on an edge size often (4-6 of 20 replicates of the main job's design) while the
    parabola through all sizes, which is what the frontier reads, has its vertex inside. A
    budget is flagged when its lowest planned run sits at an edge and the parabola through all
    the budget's points (cooldown branches too, as Approach 2 fits it) locates no vertex inside
    them. Requiring the vertex's 95 % interval (``vertex_interval``) inside too
    was measured and not adopted: it flagged 3 of 10 replicates at 1.5 % noise, judging how
    precisely the vertex is placed, which the exponents' intervals already state."""
    if BUDGET not in table or not table[BUDGET].notna().all():
        return []
    every = table
    if RUN_ID in table:  # the sizes planned for a budget are its runs' ends, not their branches
        table = table[table["C"] >= table.groupby(RUN_ID)["C"].transform("max")]
    edges = []
    for budget, group in table.groupby(BUDGET):
        sizes = group["N"].to_numpy(float)
        if len(np.unique(sizes)) < 3:
            continue
        best = sizes[int(np.argmin(group["loss"].to_numpy(float)))]
        if best not in (sizes.min(), sizes.max()):
            continue
        small = best == sizes.min()
        rows = every[every[BUDGET] == budget]  # all its points, as the frontier fits them
        x, y = np.log10(rows["N"].to_numpy(float)), rows["loss"].to_numpy(float)
        if _budget_fit(x, y, FrontierConfig())[2] is None:
            edges.append(f"C={budget:.3g} ({'smallest' if small else 'largest'})")
    if not edges:
        return []
    return [f"design: the lowest loss sits at the edge of its sizes at {', '.join(edges)}"]


def check_budget_span(table: pd.DataFrame, cfg: TrustConfig) -> list[str]:
    """Design: nominal budgets spanning under ``min_decades``: too short a lever for a law."""
    if BUDGET not in table or not table[BUDGET].notna().all():
        return []
    budgets = table[BUDGET].to_numpy(float)
    span = float(np.log10(budgets.max() / budgets.min()))
    if span >= cfg.min_decades:
        return []
    return [f"design: the budgets span only {span:.2f} decades (want {cfg.min_decades:g}+)"]


def check_metric_mode(mode: str, metric: str) -> list[str]:
    if mode != "max":
        return []
    return [
        f"metric {metric!r} is maximised; L = E + A X^-alpha assumes it falls with scale. "
        "Map an error-like column with --columns loss=<col> if the fit looks wrong"
    ]
