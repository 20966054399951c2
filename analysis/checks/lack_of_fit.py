"""Lack of fit: do a law's residuals hold a pattern the law's form cannot make?

Backtests catch a wrong form only where it bends the held-out budgets. A power law whose
exponent changes part-way along N can fit every budget's runs to within their noise on average
and still leave its misfit in plain sight: residuals that curve in log N. The check is Ramsey's
RESET: regress the log residuals on the law's own gradient (what a small change of its
parameters could absorb) plus second-order terms of its standardised log inputs (x^2, and for
two inputs z^2 and x z); if those terms explain the residuals beyond chance, the form misses
something the data show.

Points of one run (its end and its cooldown branches) share noise, so the Wald statistic's
covariance is clustered by run. With 30-40 runs and eight terms that sandwich is too small, and
its F reference rejected a correct law 6-8 % of the time at p < 0.01 (100 simulated replicates
of the main job's design at 1 % noise). The p-value is therefore a restricted wild cluster
bootstrap (Cameron, Gelbach and Miller 2008): the residuals of the null regression (gradient
only) are flipped in sign run by run, 999 times, and the observed statistic is ranked among the
redrawn ones. On 300 replicates of a correct law (the main job's design, fitted from 10 tokens
per parameter) it rejects 1.7 % at 0.01, 5.3 % at 0.05 and 9.3 % at 0.1.

Measured power (20 replicates each, 1 % noise, every point fitted; with the main job's
`approach3_min_tokens_per_param: 10` in brackets): the N term flat over the largest quarter of
sizes (a misfit the noise's size) p < 0.01 in 75 % (35 %); the N exponent halved there (a third
of the noise) 20 % (5 %). On the main job's real runs (its last two) p = 0.006 with every point
(the largest models at their half-way points, 5 tokens per parameter, sit 2-4 % above the law)
and 0.22-0.24 from 10 tokens per parameter on.

    p = structure_p_value(fit, points, ["N", "D"], run_ids)
    warnings = check_lack_of_fit("chinchilla", fit, points, ["N", "D"], run_ids, TrustConfig())
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from analysis.checks.refit_interval import log_gradient, log_predict
from analysis.checks.trust import TrustConfig

MISFIT = "its residuals curve in"
"""The words that mark this check's warning."""
MIN_SPARE_DOF = 5
"""Runs beyond the test's terms needed before the test is run (count)."""
WILD_DRAWS = 999
"""Wild bootstrap draws of the p-value (each flips every run's null residuals by one sign)."""


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
    gradient = log_gradient(fit, points, variables[0])
    terms = _second_order(points, variables)
    design = np.column_stack([gradient, terms])
    groups = np.arange(len(resid)) if groups is None else np.asarray(groups)
    clusters, member = np.unique(groups, return_inverse=True)
    q, n, k = terms.shape[1], len(resid), design.shape[1]
    if len(clusters) < k + MIN_SPARE_DOF or n <= k:
        return math.nan, np.zeros(n)
    observed, coef = _wald(design, resid[:, None], member, len(clusters), q)
    # The null's own fit (gradient only) and its residuals, flipped run by run.
    null_coef, *_ = np.linalg.lstsq(gradient, resid, rcond=None)
    null_fit = gradient @ null_coef
    flips = np.random.default_rng(0).choice([-1.0, 1.0], size=(len(clusters), WILD_DRAWS))
    redrawn = null_fit[:, None] + (resid - null_fit)[:, None] * flips[member]
    drawn, _ = _wald(design, redrawn, member, len(clusters), q)
    p = (1 + int(np.sum(drawn >= observed[0]))) / (1 + WILD_DRAWS)
    return float(p), design @ coef[:, 0]


def _wald(
    design: np.ndarray, ys: np.ndarray, member: np.ndarray, g: int, q: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster-robust Wald statistics of the last ``q`` coefficients, one per column of
    ``ys`` (points x samples), and the coefficients (terms x samples)."""
    bread = np.linalg.pinv(design.T @ design, hermitian=True)
    coef = bread @ design.T @ ys
    err = ys - design @ coef
    # Each run's score, projected on the tested coefficients: (runs, q, samples).
    scores = np.zeros((g, design.shape[1], ys.shape[1]))
    np.add.at(scores, member, design[:, :, None] * err[:, None, :])
    tested = np.einsum("qk,gks->gqs", bread[-q:], scores)
    cov = np.einsum("gqs,grs->sqr", tested, tested)
    b = coef[-q:].T
    return np.einsum("sq,sqr,sr->s", b, np.linalg.pinv(cov, hermitian=True), b), coef


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
    # No draw reached the observed statistic: the bootstrap resolves p no finer than this.
    p_text = f"p <= {p:.2g}" if p <= 1 / (1 + WILD_DRAWS) else f"p = {p:.2g}"
    return [
        f"{law}: {MISFIT} {names} beyond chance ({p_text}, RESET, wild bootstrap over runs; "
        f"furthest at {at}, {math.expm1(pattern[i]):+.1%}): the law's form misses a pattern "
        "in these runs"
    ]


def is_misfit(warning: str) -> bool:
    """Whether ``warning`` is this check's: a law's form, not its forecasts' record (its
    backtests judge those), so it does not bar the law from setting the forecast."""
    return MISFIT in warning
