"""Backtest: refit without the largest models or budgets and measure the error on them.

This is the honest check of an extrapolation: the law is fitted only on what a smaller sweep
would have had, then asked to predict the runs that were held out.

    bt = backtest(data.points, law="chinchilla", holdout=0.1)
    bt.mean_abs_rel_error, bt.table          # held-out runs with loss, predicted and error
    holdout_count(n_points=240, holdout=None)  # the automatic size: 24
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from analysis.checks.refit_interval import parameter_sd
from analysis.fit.power_sums import FitConfig, fit_chinchilla, fit_power_law
from analysis.laws.forms import APPROX_6ND, ComputeModel
from contract.results import BUDGET

MIN_POINTS_FOR_DEFAULT = 20
"""Below this many runs no backtest is run unless asked for (count)."""
DEFAULT_FRACTION = 0.1
"""Share of runs held out by default (fraction)."""


class BacktestResult(NamedTuple):
    """Errors of a law refitted without its largest runs, on those runs."""

    law: str
    key: str
    """Column the runs were ranked by (C for the joint law, the law's x otherwise)."""
    cutoff: float
    """Smallest held-out value of ``key``."""
    n_train: int
    n_holdout: int
    mean_abs_rel_error: float
    """Mean of |predicted - actual| / actual over held-out runs (fraction)."""
    max_abs_rel_error: float
    bias: float
    """Mean signed relative error; > 0 means the law over-predicts loss (fraction)."""
    table: pd.DataFrame
    """Held-out runs: id, key value, loss, predicted, rel_error, and param_sd (the log-loss sd
    of each prediction from the refit's parameter uncertainty, ``analysis.checks.refit_interval``)."""
    exponents: dict[str, float] | None = None
    """Exponents of the refit (alpha; with the joint law also beta, a, b), to show drift."""
    sigma: float = math.nan
    """The refit's residual scatter in log loss, sqrt(sum r^2 / dof): its own claim of how far
    a single run strays from the law (``analysis.checks.calibration`` checks the claim)."""
    dof: int = 0
    """Degrees of freedom of ``sigma``: training points minus fitted parameters."""
    fit: Any = None
    """The refit itself, so a forecast's estimator can be scored on other quantities."""
    train_span: float = math.nan
    """Decades of ``key`` the refit saw (log10 of its largest over its smallest training value)."""


def holdout_count(n_points: int, holdout: float | None) -> int:
    """Runs to hold out: K if ``holdout`` >= 1, a fraction if below 1, automatic if None."""
    if holdout is None:
        if n_points < MIN_POINTS_FOR_DEFAULT:
            return 0
        return max(3, math.ceil(DEFAULT_FRACTION * n_points))
    if holdout < 0:
        raise ValueError(f"--holdout-largest must be >= 0, got {holdout:g}")
    if holdout < 1:
        return math.ceil(holdout * n_points)
    if holdout != int(holdout):
        raise ValueError(f"--holdout-largest: {holdout:g} is neither a count nor a fraction < 1")
    return int(holdout)


def backtest(
    points: pd.DataFrame,
    law: str,
    holdout: float | None,
    x: str = "N",
    config: FitConfig | None = None,
    compute: ComputeModel = APPROX_6ND,
) -> BacktestResult | None:
    """Fit ``law`` ("power" or "chinchilla") on all but the largest runs; None if K is 0.
    ``compute`` is the rows' C(N, D), under which a refit's a and b are reported."""
    k = holdout_count(len(points), holdout)
    if k == 0:
        return None
    key = "C" if law == "chinchilla" else x
    n_params = 5 if law == "chinchilla" else 3
    if len(points) - k < n_params + 1:
        raise ValueError(
            f"backtest: holding out {k} of {len(points)} runs leaves too few to fit {law}"
        )
    ranked = points.sort_values(key, kind="stable")
    return score_refit(ranked.iloc[:-k], ranked.iloc[-k:], law, key, x, config, compute)


def score_refit(
    train: pd.DataFrame,
    test: pd.DataFrame,
    law: str,
    key: str,
    x: str,
    config: FitConfig | None,
    compute: ComputeModel = APPROX_6ND,
) -> BacktestResult:
    """Refit ``law`` on ``train`` and score it on ``test``: errors, drift and the refit's scatter."""
    k = len(test)
    if law == "chinchilla":
        fit = fit_chinchilla(train["N"], train["D"], train["loss"], config)
        fit = fit._replace(compute=compute)
        predicted = fit.predict(test["N"], test["D"])
        in_sample = fit.predict(train["N"], train["D"])
        exponents = {"alpha": fit.alpha, "beta": fit.beta, "a": fit.a, "b": fit.b}
    elif law == "power":
        fit = fit_power_law(train[x], train["loss"], x=x, config=config)
        predicted = fit.predict(test[x])
        in_sample = fit.predict(train[x])
        exponents = {"alpha": fit.alpha}
    else:
        raise ValueError(f"backtest: unknown law {law!r} (valid: power, chinchilla)")
    resid = np.log(train["loss"].to_numpy(float) / np.asarray(in_sample, dtype=float))
    dof = len(train) - len(fit.params)
    sigma = float(np.sqrt(np.sum(resid**2) / dof)) if dof > 0 else math.nan
    actual = test["loss"].to_numpy(float)
    rel = (np.asarray(predicted, dtype=float) - actual) / actual
    table = pd.DataFrame(
        {
            "id": test["id"].to_numpy() if "id" in test else np.arange(k),
            key: test[key].to_numpy(float),
            "loss": actual,
            "predicted": predicted,
            "rel_error": rel,
            "param_sd": parameter_sd(fit, train, test, x, sigma),
        }
    )
    return BacktestResult(
        law=law,
        key=key,
        cutoff=float(test[key].min()),
        n_train=len(train),
        n_holdout=k,
        mean_abs_rel_error=float(np.mean(np.abs(rel))),
        max_abs_rel_error=float(np.max(np.abs(rel))),
        bias=float(np.mean(rel)),
        table=table,
        exponents=exponents,
        sigma=sigma,
        dof=dof,
        fit=fit,
        train_span=float(np.log10(train[key].max() / train[key].min())),
    )


ROLLING_LEVELS = 5
"""Budget levels a table without a ``budget`` column is cut into, in equal steps of log C."""


def budget_levels(
    values: np.ndarray, budgets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(level per row, log10 of each level's upper edge; the last is inf) for rolling origin.

    Levels are the distinct nominal ``budgets`` when every row has one (edges halfway between
    them in log), else ``ROLLING_LEVELS`` equal steps of log10 ``values``; one level when the
    values do not spread.
    """
    if budgets is not None and np.isfinite(budgets).all():
        distinct, level = np.unique(budgets, return_inverse=True)
        logv = np.log10(distinct)
        return level, np.append((logv[1:] + logv[:-1]) / 2, np.inf)
    logv = np.log10(values)
    lo, span = logv.min(), logv.max() - logv.min()
    if span <= 0:
        return np.zeros(len(logv), dtype=int), np.array([np.inf])
    level = np.minimum((ROLLING_LEVELS * (logv - lo) / span).astype(int), ROLLING_LEVELS - 1)
    edges = lo + span * np.arange(1, ROLLING_LEVELS) / ROLLING_LEVELS
    return level, np.append(edges, np.inf)


def rolling_backtest(
    points: pd.DataFrame,
    law: str,
    x: str = "N",
    config: FitConfig | None = None,
    compute: ComputeModel = APPROX_6ND,
) -> tuple[BacktestResult, ...]:
    """Rolling origin: fit on the budgets up to k, predict budget k + 1, for every k that
    leaves enough runs to fit. Budgets are the ``budget`` column, or equal log steps of the key.
    """
    key = "C" if law == "chinchilla" else x
    n_params = 5 if law == "chinchilla" else 3
    budgets = points[BUDGET].to_numpy(float) if BUDGET in points.columns else None
    levels, _ = budget_levels(points[key].to_numpy(float), budgets)
    out = []
    for k in np.unique(levels)[1:]:
        train, test = points[levels < k], points[levels == k]
        if len(train) < n_params + 1 or train[key].nunique() < 2:
            continue
        try:
            out.append(score_refit(train, test, law, key, x, config, compute))
        except ValueError:
            continue  # too few distinct values below this budget to fit
    return tuple(out)


def leave_one_budget_out(
    points: pd.DataFrame,
    law: str,
    x: str = "N",
    config: FitConfig | None = None,
    compute: ComputeModel = APPROX_6ND,
) -> tuple[BacktestResult, ...]:
    """Each budget level in turn held out, predicted by the law refitted on all the others.

    Rolling origin only ever extrapolates upward; this asks whether the law also holds inside
    the design and at its small end, so a law that fits the largest budgets by bending away
    from the smaller ones is caught. Levels as in ``rolling_backtest``.
    """
    key = "C" if law == "chinchilla" else x
    n_params = 5 if law == "chinchilla" else 3
    budgets = points[BUDGET].to_numpy(float) if BUDGET in points.columns else None
    levels, _ = budget_levels(points[key].to_numpy(float), budgets)
    out = []
    for k in np.unique(levels):
        train, test = points[levels != k], points[levels == k]
        if len(train) < n_params + 1 or train[key].nunique() < 2 or len(np.unique(levels)) < 3:
            continue
        try:
            out.append(score_refit(train, test, law, key, x, config, compute))
        except ValueError:
            continue
    return tuple(out)
