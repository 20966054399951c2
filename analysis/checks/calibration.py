"""Calibration: do a law's backtests come true at the rate their intervals claim?

A leave-out backtest refits a law on part of the sweep and predicts the rest. Two things can go
wrong: the prediction misses by more than the loss differences a sweep is run to resolve (the
mean |error| limit), or it misses by more than the refit itself said it could (an interval
narrower than the error it then makes is over-confident). The second is checked here: each
held-out point should fall inside the refit's own 95 % prediction interval at the claimed rate.
That interval is t(dof) * sqrt(sigma^2 + s_theta^2) in log loss: sigma the refit's residual
scatter (degrees of freedom counted), s_theta its parameters' uncertainty carried to the held-out
point (``analysis.checks.refit_interval``). More points outside than a binomial draw at 5 % would
give with 99 % probability is a warning.

    warnings = check_calibration("chinchilla", [bt, *rolling, *lobo], TrustConfig())
    warnings = check_backtest_errors("minima", [bt, *rolling, *lobo], TrustConfig())
    outside, counted = miscoverage([bt, *rolling])
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from scipy import stats

from analysis.checks.backtest import BacktestResult
from analysis.checks.trust import TrustConfig


def miscoverage(backtests: Iterable[BacktestResult | None], min_dof: int = 3) -> tuple[int, int]:
    """(held-out points outside their refit's 95 % prediction interval, points counted).

    A refit with fewer than ``min_dof`` degrees of freedom cannot estimate its own scatter, so
    it claims no interval and its points are not counted (their errors still are, elsewhere).
    """
    outside = counted = 0
    for bt in backtests:
        if bt is None or bt.dof < min_dof or not math.isfinite(bt.sigma):
            continue
        log_err = np.abs(np.log1p(bt.table["rel_error"].to_numpy(float)))
        param_sd = bt.table.get("param_sd")
        param_sd = 0.0 if param_sd is None else np.nan_to_num(param_sd.to_numpy(float))
        half_width = stats.t.ppf(0.975, bt.dof) * np.sqrt(bt.sigma**2 + param_sd**2)
        outside += int(np.sum(log_err > half_width))
        counted += len(log_err)
    return outside, counted


def allowed_outside(counted: int, claimed: float = 0.05, confidence: float = 0.99) -> int:
    """Most points outside a ``1 - claimed`` interval that chance alone explains."""
    return int(stats.binom.ppf(confidence, counted, claimed)) if counted else 0


def check_calibration(
    law: str, backtests: Iterable[BacktestResult | None], cfg: TrustConfig
) -> list[str]:
    """Warn when held-out points fall outside the refits' own 95 % intervals too often."""
    outside, counted = miscoverage(judged(backtests, cfg), cfg.min_calibration_dof)
    if counted < cfg.min_calibration_points:
        return []
    allowed = allowed_outside(counted, 0.05, cfg.calibration_confidence)
    if outside <= allowed:
        return []
    return [
        f"{law}: backtests are over-confident: {outside} of {counted} held-out points fall "
        f"outside their refit's 95 % prediction interval ({outside / counted:.0%}; chance "
        f"explains up to {allowed})"
    ]


def judged(backtests: Iterable[BacktestResult | None], cfg: TrustConfig) -> list[BacktestResult]:
    """The backtests the gate judges: refits that saw at least ``min_judged_span`` of the
    decades the law's own fit saw. A rolling-origin refit on the two smallest budgets of a
    1.5-decade design extrapolates 3x beyond a 0.3-decade lever: it is shown, but it tests
    that sliver of the design, not the design's law."""
    results = [b for b in backtests if b is not None]
    if not results:
        return []
    full = max(b.train_span for b in results)
    keep = [b for b in results if not b.train_span < cfg.min_judged_span * full]
    return keep


def check_backtest_errors(
    law: str, backtests: Iterable[BacktestResult | None], cfg: TrustConfig
) -> list[str]:
    """Warn when the judged backtests' held-out points (leave-largest-out, rolling origin and
    leave-one-budget-out together) miss by more than ``max_backtest_error`` on average."""
    errs = [b.table["rel_error"].to_numpy(float) for b in judged(backtests, cfg)]
    errs = np.concatenate(errs) if errs else np.empty(0)
    if len(errs) == 0:
        return []
    mean = float(np.mean(np.abs(errs)))
    if mean <= cfg.max_backtest_error:
        return []
    return [
        f"{law}: backtest error {mean:.1%} on {len(errs)} held-out points (leave-largest-out, "
        f"rolling origin, leave-one-budget-out; limit {cfg.max_backtest_error:.0%}); "
        "extrapolations are unreliable"
    ]
