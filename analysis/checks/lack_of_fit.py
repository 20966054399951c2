"""Lack of fit: do a law's residuals hold a pattern the law's form cannot make?

Backtests catch a wrong form only where it bends the held-out budgets. A power law whose
exponent changes part-way along N can fit every budget's runs to within their noise on average
and still leave its misfit in plain sight: residuals that curve in log N. The check is Ramsey's
RESET: regress the log residuals on the law's own gradient (what a small change of its
parameters could absorb) plus second-order terms of its standardised log inputs (x^2, and for
two inputs z^2 and x z); if those terms explain the residuals beyond chance, the form misses
something the data show. Points of one run (its end and its cooldown branches) share noise, so
the test's covariance is clustered by run, and its F reference has runs - 1 degrees of freedom.

Measured on the gate's replicates (``bench/gate_check.py``: the main job's design, losses from a
known law): p < 0.01 in 0 of 20 at 1 % noise and 1 of 20 at 1.5 %; in 7 of 20 with the N
exponent halved over the largest quarter of sizes (a misfit a third of the noise) and 20 of 20
with the N term flat there (a misfit the noise's size). On the main job's real runs p = 4e-5:
the largest models at their half-way points (5 tokens per parameter) sit 2-4 % above the law.

    p = structure_p_value(fit, points, ["N", "D"], run_ids)
    warnings = check_lack_of_fit("chinchilla", fit, points, ["N", "D"], run_ids, TrustConfig())
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from analysis.checks.refit_interval import log_gradient, log_predict
from analysis.checks.trust import TrustConfig

MISFIT = "its residuals curve in"
"""The words that mark this check's warning."""
MIN_SPARE_DOF = 5
"""Runs beyond the test's terms needed before the test is run (count)."""


def _second_order(points: pd.DataFrame, variables: list[str]) -> np.ndarray:
    """Squares and pairwise products of the standardised log inputs (points x terms)."""
    logs = []
    for v in variables:
        x = np.log(points[v].to_numpy(float))
        logs.append((x - x.mean()) / (x.std() or 1.0))
    return np.column_stack(
        [x * x for x in logs] + [x * y for x, y in itertools.combinations(logs, 2)]
    )


def structure_p_value(
    fit, points: pd.DataFrame, variables: list[str], groups: np.ndarray | None
) -> float:
    """P-value of the second-order terms in the run-clustered regression of the log residuals
    (NaN when the runs are too few to tell)."""
    return _reset(fit, points, variables, groups)[0]


def _reset(
    fit, points: pd.DataFrame, variables: list[str], groups: np.ndarray | None
) -> tuple[float, np.ndarray]:
    """(p-value, each point's log residual as the regression smooths it)."""
    resid = np.log(points["loss"].to_numpy(float)) - log_predict(fit, points, variables[0])
    terms = _second_order(points, variables)
    design = np.column_stack([log_gradient(fit, points, variables[0]), terms])
    groups = np.arange(len(resid)) if groups is None else np.asarray(groups)
    clusters = np.unique(groups)
    q, n, k = terms.shape[1], len(resid), design.shape[1]
    if len(clusters) < k + MIN_SPARE_DOF or n <= k:
        return math.nan, np.zeros(n)
    coef, *_ = np.linalg.lstsq(design, resid, rcond=None)
    err = resid - design @ coef
    bread = np.linalg.pinv(design.T @ design, hermitian=True)
    meat = np.zeros((k, k))
    for c in clusters:
        score = design[groups == c].T @ err[groups == c]
        meat += np.outer(score, score)
    g = len(clusters)
    cov = (g / (g - 1)) * ((n - 1) / (n - k)) * bread @ meat @ bread
    b, v = coef[-q:], cov[-q:, -q:]
    wald = float(b @ np.linalg.lstsq(v, b, rcond=None)[0])
    return float(stats.f.sf(wald / q, q, g - 1)), design @ coef


def check_lack_of_fit(
    law: str,
    fit,
    points: pd.DataFrame,
    variables: list[str],
    groups: np.ndarray | None,
    cfg: TrustConfig,
) -> list[str]:
    """Warn when the residuals curve in the law's log inputs beyond chance, naming the run
    where the curvature pulls furthest from the law."""
    p, pattern = _reset(fit, points, variables, groups)
    if not p < cfg.max_lack_of_fit_p:
        return []
    i = int(np.argmax(np.abs(pattern)))
    at = ", ".join(f"{v}={float(points[v].iloc[i]):.3g}" for v in variables)
    names = " and ".join(f"log {v}" for v in variables)
    return [
        f"{law}: {MISFIT} {names} beyond chance (p = {p:.2g}, RESET clustered by run; "
        f"furthest at {at}, {math.expm1(pattern[i]):+.1%}): the law's form misses a pattern "
        "in these runs"
    ]


def is_misfit(warning: str) -> bool:
    """Whether ``warning`` is this check's: a law's form, not its forecasts' record (its
    backtests judge those), so it does not bar the law from setting the forecast."""
    return MISFIT in warning
