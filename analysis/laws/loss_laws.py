"""Fit one law to loaded data with its bootstrap intervals, predictions, backtests and checks.

Three laws fitted to every run's loss: the single-variable L(X) = E + A X^-alpha ("power"), the
compute law L(C) = L_inf + A C^-alpha on the compute frontier ("compute", L_inf fitted or
given), and Chinchilla's L(N, D) ("chinchilla"). Approaches 1 and 2 live in ``frontierfits``.

    res = power_result(data, AnalysisConfig(x="D"))
    res = chinchilla_result(data, AnalysisConfig(predict=({"C": 1e22},)))
    res.estimates["alpha"], res.predictions, res.warnings
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis.checks import trust as diag
from analysis.checks.backtest import (
    BacktestResult,
    backtest,
    leave_one_budget_out,
    rolling_backtest,
)
from analysis.checks.calibration import check_backtest_errors, check_calibration
from analysis.checks.lack_of_fit import check_lack_of_fit
from analysis.config import AnalysisConfig
from analysis.fit.bootstrap import bootstrap_theta, summarize
from analysis.fit.power_sums import bounds, fit_chinchilla, fit_power_law, to_natural
from analysis.laws.annealed import annealed_points
from analysis.laws.forms import (
    APPROX_6ND,
    ChinchillaFit,
    ComputeModel,
    Estimate,
    PowerLawFit,
    allocation,
    derive_missing,
)
from analysis.laws.result import (
    Backtests,
    Draws,
    chinchilla_curves,
    estimates,
    law_result,
    power_curves,
)
from analysis.load.sweep_tables import ScalingData
from analysis.outcome import LawResult, Prediction
from contract.results import RUN_ID

Progress = Callable[[str], None]


def complete(point: dict[str, float], compute: ComputeModel) -> dict[str, float]:
    """Fill a prediction point's missing axis with the data's own C(N, D)."""
    get = {k: (np.array(point[k]) if k in point else None) for k in ("N", "D", "C")}
    filled = derive_missing(get["N"], get["D"], get["C"], compute)
    return {k: float(v) for k, v in zip(("N", "D", "C"), filled, strict=True) if v is not None}


def run_ids(pts: pd.DataFrame) -> np.ndarray | None:
    return pts[RUN_ID].to_numpy() if RUN_ID in pts.columns else None


def frontier_points(pts: pd.DataFrame, x: str) -> pd.DataFrame:
    """The runs a one-variable law L(X) describes when the other axes vary too.

    A sweep crosses sizes with data budgets, so loss at one N differs with D. L(N) and L(D)
    are laws of the best achievable loss, so each X keeps its lowest loss; L(C) keeps the
    compute frontier (runs no cheaper run beats).
    """
    if x in ("N", "D"):
        return pts.loc[pts.groupby(x)["loss"].idxmin()].sort_values(x)
    ordered = pts.sort_values(x)
    return ordered[ordered["loss"] < ordered["loss"].cummin().shift(fill_value=np.inf)]


def _backtests(
    pts: pd.DataFrame, law: str, x: str, cfg: AnalysisConfig, compute: ComputeModel = APPROX_6ND
) -> tuple[BacktestResult | None, tuple, tuple, list[str]]:
    """Leave-largest-out, rolling origin and leave-one-budget-out, with their calibration and
    error checks; a holdout too large becomes a warning."""
    kind = "chinchilla" if law == "chinchilla" else "power"
    try:
        bt = backtest(pts, kind, cfg.holdout, x=x, config=cfg.fit, compute=compute)
    except ValueError as err:
        return None, (), (), [f"{law}: {err}"]
    rolling, lobo = (), ()
    if cfg.holdout != 0:
        rolling = rolling_backtest(pts, kind, x=x, config=cfg.fit, compute=compute)
        lobo = leave_one_budget_out(pts, kind, x=x, config=cfg.fit, compute=compute)
    # The refit's form is "power" for L(X) and L(C) alike; a warning names the law the user reads.
    bt = bt and bt._replace(law=law)
    return bt, rolling, lobo, backtest_checks(law, bt, rolling, lobo, cfg.trust)


def backtest_checks(law: str, bt, rolling, lobo, trust) -> list[str]:
    """Calibration of a law's three backtests together: mean error and coverage."""
    return [
        *check_backtest_errors(law, [bt, *rolling, *lobo], trust),
        *check_calibration(law, [bt, *rolling, *lobo], trust),
    ]


def _require_falling(law: str, fit, terms: dict[str, tuple[str, str, float]]) -> None:
    """Refuse a law one of whose terms vanishes: the loss does not fall with that variable.

    ``terms`` maps variable -> (coefficient name, exponent name, smallest value in the data).
    A term counts as absent when its exponent is 0 or its size at the smallest run is below a
    millionth of the loss (the coefficient went to the bottom of its search box).
    """
    for var, (coef, exp, smallest) in terms.items():
        size = getattr(fit, coef) * smallest ** (-getattr(fit, exp))
        if getattr(fit, exp) < 1e-6 or size < 1e-6 * fit.E:
            raise ValueError(f"{law}: loss does not fall as {var} grows")


def power_result(
    data: ScalingData, cfg: AnalysisConfig, progress: Progress | None = None, law: str = "power"
) -> LawResult:
    """L(X) = E + A X^-alpha on the best loss per X ("power"), or on the compute frontier of
    the annealed points (run ends, cooldown branches, constant-rate points) with an optional
    fixed floor ("compute")."""
    x = "C" if law == "compute" else cfg.x
    table, notes = data.points, []
    if law == "compute":  # the compute frontier over annealed points only: analysis.laws.annealed
        frontier = annealed_points(data)
        table, notes = frontier.table, [frontier.note]
    pts = frontier_points(table, x)
    fit_cfg = cfg.fit
    if law == "compute" and cfg.compute_floor is not None:
        e = math.log(cfg.compute_floor)  # a given floor: pin e inside a hair-wide box
        fit_cfg = fit_cfg.model_copy(
            update={"log_floor_bounds": (e - 1e-9, e + 1e-9), "log_floor_grid": (e,)}
        )
    fit = fit_power_law(pts[x], pts["loss"], x=x, config=fit_cfg)
    if law == "compute" and cfg.compute_floor is not None:
        fit = fit._replace(at_bound=tuple(n for n in fit.at_bound if n != "E"))
    _require_falling(law, fit, {x: ("A", "alpha", float(pts[x].min()))})
    logx, logy = np.log(pts[x].to_numpy(float))[None], np.log(pts["loss"].to_numpy(float))
    theta = np.array([np.log(fit.E), np.log(fit.A), fit.alpha])
    if progress:
        progress(f"{law}: bootstrap of {cfg.bootstrap.n_resamples} resamples")
    raw = bootstrap_theta(logx, logy, theta, fit_cfg, cfg.bootstrap, run_ids(pts), progress)
    draws = Draws(to_natural(raw), ("E", "A", "alpha"))
    est = estimates(draws, fit.params, cfg.bootstrap.level)
    preds = []
    for point in (complete(p, data.compute) for p in cfg.predict):
        if x in point:
            X = point[x]
            boot = power_curves(draws, X)
            value = float(fit.predict(X))
            preds.append(Prediction({x: X}, "loss", summarize(boot, value, cfg.bootstrap.level)))
    bt, rolling, lobo, warns = _backtests(pts, law, x, cfg)
    if law == "compute" and cfg.compute_floor is not None:
        est.pop("E")  # given, not estimated
    box = np.array(bounds(1, fit_cfg))
    warns += _trust_checks(law, fit, pts, [x], est, draws.values, raw, box, preds, cfg)
    notes = [*notes, *diag.width_notes(est, cfg.trust)]
    return law_result(
        law,
        fit,
        draws,
        est,
        preds,
        warns,
        runs=pts,
        notes=notes,
        backtests=Backtests(bt, rolling, lobo),
    )


def _chinchilla_predictions(
    fit, draws: Draws, cfg: AnalysisConfig, compute: ComputeModel
) -> list[Prediction]:
    level, preds = cfg.bootstrap.level, []
    for raw in cfg.predict:
        point = complete(raw, compute)
        if "N" in point and "D" in point and not ("C" in raw and len(raw) == 1):
            N, D = point["N"], point["D"]
            boot = chinchilla_curves(draws, N, D)
            est = summarize(boot, float(fit.predict(N, D)), level)
            preds.append(Prediction({"N": N, "D": D}, "loss", est))
        elif "C" in point:
            C = point["C"]
            boot = allocation(draws.values, C, compute) if len(draws) else None
            full = allocation(np.array([list(fit.params.values())]), C, compute)
            for q in ("loss_opt", "N_opt", "D_opt", "tokens_per_param"):
                value = float(full[q][0])
                est = summarize(boot[q], value, level) if boot is not None else Estimate(value)
                preds.append(Prediction({"C": C}, q, est))
    return preds


def under_trained(pts: pd.DataFrame, cfg: AnalysisConfig) -> pd.Series:
    """Rows trained on fewer tokens per parameter than the trust threshold."""
    return pts["D"] / pts["N"] < cfg.trust.min_tokens_per_param


def in_approach3_domain(N, D, floor: float | None) -> np.ndarray:
    """Which points (token and parameter counts) Approach 3 fits under its tokens-per-parameter
    ``floor`` (``approach3_min_tokens_per_param``; None: every one)."""
    N, D = np.asarray(N, float), np.asarray(D, float)
    return np.ones(N.shape, bool) if floor is None else D / N >= floor


def approach3_points(pts: pd.DataFrame, floor: float | None) -> tuple[pd.DataFrame, list[str]]:
    """The points Approach 3 fits under ``floor``, and a note counting those below it (none
    without one). Fewer than the law can be fitted on is a ValueError naming it."""
    low = ~in_approach3_domain(pts["N"], pts["D"], floor)
    if not low.any():
        return pts, []
    kept = pts[~low]
    if len(kept) < 5:
        raise ValueError(
            f"chinchilla: only {len(kept)} points at {floor:g}+ tokens per parameter "
            "(approach3_min_tokens_per_param); the law needs 5+"
        )
    note = (
        f"fitted to the {len(kept)} points at {floor:g}+ tokens per parameter; "
        f"{int(low.sum())} under it left out (approach3_min_tokens_per_param)"
    )
    return kept.reset_index(drop=True), [note]


def chinchilla_result(
    data: ScalingData, cfg: AnalysisConfig, progress: Progress | None = None
) -> LawResult:
    """Approach 3 with allocations under the data's own C(N, D) and run-clustered intervals,
    on the points inside its domain (``approach3_min_tokens_per_param``)."""
    pts, domain_note = approach3_points(data.points, cfg.approach3_min_tokens_per_param)
    fit = fit_chinchilla(pts["N"], pts["D"], pts["loss"], cfg.fit)._replace(compute=data.compute)
    _require_falling(
        "chinchilla",
        fit,
        {"N": ("A", "alpha", float(pts["N"].min())), "D": ("B", "beta", float(pts["D"].min()))},
    )
    logx = np.log(pts[["N", "D"]].to_numpy(float)).T
    logy = np.log(pts["loss"].to_numpy(float))
    theta = np.array([np.log(fit.E), np.log(fit.A), fit.alpha, np.log(fit.B), fit.beta])
    if progress:
        progress(f"chinchilla: bootstrap of {cfg.bootstrap.n_resamples} resamples")
    raw = bootstrap_theta(logx, logy, theta, cfg.fit, cfg.bootstrap, run_ids(pts), progress)
    # The optimiser's order (E, A, alpha, B, beta); allocation() reads (E, A, B, alpha, beta).
    draws = Draws(to_natural(raw), ("E", "A", "alpha", "B", "beta"))
    draws = draws.take(("E", "A", "B", "alpha", "beta"))
    c_max = float(pts["C"].max())
    est = _chinchilla_estimates(fit, draws, c_max, data.compute, cfg.bootstrap.level)
    preds = _chinchilla_predictions(fit, draws, cfg, data.compute)
    bt, rolling, lobo, warns = _backtests(pts, "chinchilla", "C", cfg, data.compute)
    box = np.array(bounds(2, cfg.fit))
    warns += _trust_checks(
        "chinchilla", fit, pts, ["N", "D"], est, draws.values, raw, box, preds, cfg
    )
    notes = [*domain_note, *diag.width_notes(est, cfg.trust)]
    variants = _without_under_trained(pts, cfg, data.compute, warns, notes)
    return law_result(
        "chinchilla",
        fit,
        draws,
        est,
        preds,
        warns,
        runs=pts,
        notes=notes,
        backtests=Backtests(bt, rolling, lobo),
        reference_c=c_max,
        variants=variants,
        some_points=bool(domain_note),
    )


def _chinchilla_estimates(
    fit: ChinchillaFit, draws: Draws, c_max: float, compute: ComputeModel, level: float
) -> dict[str, Estimate]:
    """The five parameters, and the allocation exponents a, b and D/N at the largest run."""
    est = estimates(draws, fit.params, level)
    full = allocation(np.array([list(fit.params.values())]), c_max, compute)
    derived = allocation(draws.values, c_max, compute) if len(draws) else None
    for q in ("a", "b", "tokens_per_param"):
        value = float(full[q][0])
        est[q] = summarize(derived[q], value, level) if derived is not None else Estimate(value)
    return est


def _without_under_trained(
    pts: pd.DataFrame, cfg: AnalysisConfig, compute: ComputeModel, warns: list, notes: list
) -> dict[str, dict[str, float]]:
    """The law refitted without under-trained runs, as a variant; a warning names them (appended
    to ``warns``), a note says why the refit failed (appended to ``notes``)."""
    low = under_trained(pts, cfg)
    if not low.any():
        return {}
    named = ", ".join(map(str, pts["id"][low].head(5))) + (" ..." if low.sum() > 5 else "")
    warns.append(
        f"chinchilla: {int(low.sum())} under-trained runs (D/N < "
        f"{cfg.trust.min_tokens_per_param:g}): {named}"
    )
    rest = pts[~low]
    try:
        alt = fit_chinchilla(rest["N"], rest["D"], rest["loss"], cfg.fit)._replace(compute=compute)
        return {"without under-trained runs": {**alt.params, "a": alt.a, "b": alt.b}}
    except ValueError as err:
        notes.append(f"without the under-trained runs the law cannot be fitted: {err}")
        return {}


def _trust_checks(
    law: str,
    fit: PowerLawFit | ChinchillaFit,
    pts: pd.DataFrame,
    variables: list[str],
    est: dict,
    samples: np.ndarray,
    raw: np.ndarray,
    box: np.ndarray,
    preds: list[Prediction],
    cfg: AnalysisConfig,
) -> list[str]:
    """The reliability checks every law fitted to runs goes through, in one order."""
    return [
        *diag.check_design_points(law, fit, pts[variables], cfg.trust),
        *diag.check_identification(law, fit, est, samples, raw, box, cfg.trust),
        *check_lack_of_fit(law, fit, pts, variables, run_ids(pts), cfg.trust),
        *diag.check_horizon(law, [p.inputs for p in preds], pts, cfg.trust),
    ]
