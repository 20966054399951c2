"""The trust gate: plain-language warnings about fits a researcher should not extrapolate.

Each check returns warning strings (empty when all is well) that the report prints under the
fit table; ``Analysis.trusted`` is False as soon as there is one.

    warnings = check_fit("chinchilla", fit, points[["N", "D"]], estimates, TrustConfig())
    warnings += check_backtest(bt, TrustConfig())
    warnings += check_extrapolation("power", [{"N": 1e12}], points, TrustConfig())
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from analysis.checks.backtest import BacktestResult
from analysis.checks.frontier_backtest import FrontierBacktest
from analysis.laws.forms import ChinchillaFit, Estimate, PowerLawFit


class TrustConfig(BaseModel):
    """Thresholds of the trust gate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_points_per_param: float = 3.0
    """Runs needed per fitted parameter before a fit counts as supported (ratio)."""
    min_decades: float = 1.0
    """Smallest span of each fitted variable, max/min, in powers of ten (decades)."""
    max_start_spread: float = 0.01
    """Largest relative parameter disagreement between starts that tie on the objective."""
    max_backtest_error: float = 0.02
    """Largest acceptable mean |relative error| on held-out runs (fraction)."""
    max_frontier_backtest_error: float = 0.5
    """Largest acceptable mean |relative error| of Approach 1 or 2's N_opt at the held-out
    largest budget (fraction). An optimum off by more than half is more than one step of a
    typical IsoFLOP size grid (sizes 1.5-2x apart) away: the refit would pick another model."""
    max_relative_se: float = 0.5
    """Largest acceptable bootstrap SE / |estimate| of an exponent (ratio)."""
    max_extrapolation_decades: float = 1.5
    """Predictions further than this beyond the largest run are flagged (decades)."""
    max_failed_resamples: float = 0.05
    """Largest acceptable share of bootstrap resamples whose fit failed (fraction)."""
    max_resamples_at_bound: float = 0.05
    """Largest acceptable share of resamples with a parameter on the search bound (fraction)."""
    max_ratio_width: float = 10.0
    """Largest acceptable hi/lo of a positive quantity's interval: E, N_opt, D_opt, D/N (ratio);
    wider A and B intervals are noted, not warned about (a prefactor moves with its exponent)."""
    max_exponent_width: float = 0.2
    """Largest acceptable width hi - lo of a compute-optimal exponent a or b (dimensionless)."""
    max_prediction_width: float = 0.1
    """Largest acceptable (hi - lo) / value of a predicted loss (fraction)."""
    min_tokens_per_param: float = 1.0
    """Runs with fewer training tokens per parameter are named as under-trained (ratio)."""
    max_dropped_budgets: float = 0.2
    """Largest share of IsoFLOP budgets dropped before Approach 2 is flagged (fraction)."""


def check_fit(
    law: str,
    fit: PowerLawFit | ChinchillaFit,
    variables: pd.DataFrame,
    estimates: dict[str, Estimate],
    cfg: TrustConfig,
) -> list[str]:
    """Point count, range of each variable, bounds, start dependence, interval widths."""
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
    for name in ("alpha", "beta"):
        est = estimates.get(name)
        if est is not None and math.isfinite(est.se) and est.value != 0:
            rel = est.se / abs(est.value)
            if rel > cfg.max_relative_se:
                out.append(f"{law}: {name} is poorly constrained (SE {rel:.0%} of its value)")
    return out


def check_bootstrap(law: str, samples: np.ndarray, cfg: TrustConfig) -> list[str]:
    if len(samples) == 0:
        return []
    failed = float(np.mean(~np.isfinite(samples).all(axis=1)))
    if failed > cfg.max_failed_resamples:
        return [f"{law}: {failed:.0%} of bootstrap resamples failed to fit"]
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


RATIO_QUANTITIES = ("E", "N_opt", "D_opt", "tokens_per_param")
SCALE_COEFFICIENTS = ("A", "B")
"""Prefactors of a power law: their width is reported, never a trust warning (see width_notes)."""
EXPONENTS = ("a", "b")


def check_widths(law: str, estimates: dict[str, Estimate], preds, cfg: TrustConfig) -> list[str]:
    """Intervals so wide that the quantity is not identified by the data.

    Checked: E, the exponents, N*, D*, D/N and predicted losses: what a forecast is made of.
    The prefactors A and B are not: see ``width_notes``.
    """
    out = []
    for name, est in estimates.items():
        if not (math.isfinite(est.lo) and math.isfinite(est.hi)):
            continue
        if name in RATIO_QUANTITIES and est.lo > 0 and est.hi / est.lo > cfg.max_ratio_width:
            out.append(
                f"{law}: {name} is not identified (interval {est.lo:.3g} to {est.hi:.3g}, "
                f"{est.hi / est.lo:.0f}x)"
            )
        elif name in RATIO_QUANTITIES and est.lo <= 0 < est.hi:
            out.append(f"{law}: {name} is not identified (interval reaches 0)")
        if name in EXPONENTS and est.hi - est.lo > cfg.max_exponent_width:
            out.append(
                f"{law}: {name} is poorly constrained (interval {est.lo:.2f} to {est.hi:.2f})"
            )
    for p in preds:
        e = p.estimate
        if not (math.isfinite(e.lo) and math.isfinite(e.hi)) or e.value <= 0:
            continue
        where = " ".join(f"{k}={v:.3g}" for k, v in p.inputs.items())
        if (
            p.quantity in ("loss", "loss_opt")
            and (e.hi - e.lo) / e.value > cfg.max_prediction_width
        ):
            out.append(
                f"{law}: predicted {p.quantity} at {where} spans {(e.hi - e.lo) / e.value:.0%}"
            )
        if p.quantity in RATIO_QUANTITIES and e.lo > 0 and e.hi / e.lo > cfg.max_ratio_width:
            out.append(f"{law}: predicted {p.quantity} at {where} spans {e.hi / e.lo:.0f}x")
    return out


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


def check_one_sided(law: str, est: Estimate) -> list[str]:
    """A point estimate on its interval's edge: the bootstrap cannot bracket it."""
    if math.isfinite(est.lo) and not est.lo < est.value < est.hi:
        return [
            f"{law}: the estimate of a sits at its interval's edge (a bootstrap of a minimum is "
            "one-sided); read the interval as a range, not a coverage statement"
        ]
    return []


def check_agreement(values: dict[str, Estimate], quantity: str = "a") -> list[str]:
    """Flag every approach whose ``quantity`` lies outside another approach's interval."""
    out = []
    for x, ex in values.items():
        for y, ey in values.items():
            if x != y and math.isfinite(ey.lo) and not ey.lo <= ex.value <= ey.hi:
                out.append(
                    f"approaches disagree on {quantity}: {x} {ex.value:.3f} lies outside "
                    f"{y}'s interval [{ey.lo:.3f}, {ey.hi:.3f}]"
                )
    return out


def check_backtest(bt: BacktestResult | None, cfg: TrustConfig) -> list[str]:
    if bt is None or bt.mean_abs_rel_error <= cfg.max_backtest_error:
        return []
    return [
        f"{bt.law}: backtest error {bt.mean_abs_rel_error:.1%} on the {bt.n_holdout} largest-{bt.key} "
        f"runs (limit {cfg.max_backtest_error:.0%}); extrapolations are unreliable"
    ]


def check_frontier_backtest(bt: FrontierBacktest | None, cfg: TrustConfig) -> list[str]:
    """N_opt at the held-out largest budget missed by more than ``max_frontier_backtest_error``."""
    if bt is None or bt.errors["N_opt"][0] <= cfg.max_frontier_backtest_error:
        return []
    return [
        f"{bt.approach}: backtest N_opt error {bt.errors['N_opt'][0]:.0%} at the largest budget "
        f"(C >= {bt.cutoff:.3g}; limit {cfg.max_frontier_backtest_error:.0%}); the allocation "
        "does not extrapolate"
    ]


def check_extrapolation(
    law: str, points: list[dict[str, float]], data: pd.DataFrame, cfg: TrustConfig
) -> list[str]:
    """Flag prediction inputs far beyond the largest run along any axis."""
    out: list[str] = []
    for point in [dict(t) for t in dict.fromkeys(tuple(p.items()) for p in points)]:
        for var, value in point.items():
            if var not in data or not data[var].notna().any():
                continue
            beyond = math.log10(value / float(data[var].max()))
            if beyond > cfg.max_extrapolation_decades:
                out.append(
                    f"{law}: prediction at {var}={value:.3g} is {beyond:.1f} decades beyond the "
                    f"largest run; treat its interval as optimistic"
                )
    return out


def check_metric_mode(mode: str, metric: str) -> list[str]:
    if mode != "max":
        return []
    return [
        f"metric {metric!r} is maximised; L = E + A X^-alpha assumes it falls with scale. "
        "Map an error-like column with --columns loss=<col> if the fit looks wrong"
    ]
