"""One call from loaded data to every fit, interval, prediction, backtest and warning.

``run_analysis`` is what the CLI runs and what a notebook should call; it returns a typed
``Analysis`` that ``analysis.report`` renders and ``analysis.plots`` draws.

    data = load_scaling_data("results/my-sweep")
    result = run_analysis(data, AnalysisConfig(predict=({"N": 1e9, "D": 2e10},)))
    result.results["chinchilla"].estimates["alpha"]        # Estimate(value, lo, hi, se)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from threadpoolctl import threadpool_limits

from analysis import diagnostics as diag
from analysis.backtest import BacktestResult, backtest, holdout_count
from analysis.bootstrap import BootstrapConfig, bootstrap_apply, bootstrap_theta, summarize
from analysis.fitting import FitConfig, fit_chinchilla, fit_power_law, to_natural
from analysis.frontier import FrontierConfig, FrontierFit, envelope_frontier, isoflop_frontier
from analysis.io import ScalingData
from analysis.laws import ChinchillaFit, Estimate, PowerLawFit, chinchilla_arrays, derive_missing

LawName = Literal["power", "chinchilla", "frontier"]
LAWS: tuple[str, ...] = ("power", "chinchilla", "frontier")


class AnalysisConfig(BaseModel):
    """What to fit and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    laws: tuple[LawName, ...] = ("power", "chinchilla", "frontier")
    """Laws to fit; a law the data cannot support is skipped with the reason."""
    x: Literal["N", "D", "C"] = "N"
    """Variable of the single-variable power law (parameters, tokens or FLOPs)."""
    predict: tuple[dict[str, float], ...] = ()
    """Points to extrapolate to, e.g. {"N": 1e9, "D": 2e10} or {"C": 1e24} (counts, FLOPs)."""
    holdout: float | None = None
    """Backtest size: K largest runs (>= 1), a fraction (< 1), 0 for none, None for automatic."""
    fit: FitConfig = Field(default_factory=FitConfig)
    """Robust loss, optimiser tolerances and start grid of the power-law and joint fits."""
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    """Resamples, seed, workers and coverage of every interval."""
    frontier: FrontierConfig = Field(default_factory=FrontierConfig)
    """Budget grouping and parabola window of Approaches 1 and 2."""
    trust: diag.TrustConfig = Field(default_factory=diag.TrustConfig)
    """Thresholds of the warnings that decide ``Analysis.trusted``."""

    @model_validator(mode="after")
    def _check(self) -> AnalysisConfig:
        if self.holdout is not None:
            holdout_count(100, self.holdout)  # raises a ValueError naming --holdout-largest
        for point in self.predict:
            if not point or any(k not in ("N", "D", "C") or not v > 0 for k, v in point.items()):
                raise ValueError(f"predict: {point} must map N, D or C to positive numbers")
        return self


class Prediction(NamedTuple):
    """One extrapolated quantity at user-given inputs."""

    inputs: dict[str, float]
    quantity: str
    """loss, loss_opt, N_opt, D_opt or tokens_per_param."""
    estimate: Estimate


@dataclass(frozen=True)
class LawResult:
    """A fitted law with its intervals, predictions and backtest."""

    name: str
    fit: PowerLawFit | ChinchillaFit | FrontierFit
    estimates: dict[str, Estimate]
    predictions: tuple[Prediction, ...]
    samples: np.ndarray
    """Bootstrap samples (R, p) of ``sample_names``; R = 0 without a bootstrap."""
    sample_names: tuple[str, ...]
    backtest: BacktestResult | None = None
    warnings: tuple[str, ...] = ()
    reference_c: float = math.nan
    """FLOPs at which ``estimates["tokens_per_param"]`` is given (the largest run's)."""


@dataclass(frozen=True)
class Analysis:
    data: ScalingData
    config: AnalysisConfig
    results: dict[str, LawResult]
    skipped: dict[str, str]
    """Law name -> why it was not fitted."""
    warnings: tuple[str, ...]

    @property
    def trusted(self) -> bool:
        return not self.warnings


def _complete(point: dict[str, float]) -> dict[str, float]:
    get = {k: (np.array(point[k]) if k in point else None) for k in ("N", "D", "C")}
    filled = derive_missing(get["N"], get["D"], get["C"])
    return {k: float(v) for k, v in zip(("N", "D", "C"), filled, strict=True) if v is not None}


def _estimates(samples: np.ndarray, names: tuple[str, ...], values: dict, level: float) -> dict:
    return {n: summarize(samples[:, j], values[n], level) for j, n in enumerate(names)}


def _backtest(
    pts: pd.DataFrame, law: str, cfg: AnalysisConfig
) -> tuple[BacktestResult | None, list[str]]:
    """Run the backtest; a holdout too large for the data becomes a warning, not a failure."""
    try:
        bt = backtest(pts, law, cfg.holdout, x=cfg.x, config=cfg.fit)
    except ValueError as err:
        return None, [f"{law}: {err}"]
    return bt, diag.check_backtest(bt, cfg.trust)


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


def _power(data: ScalingData, cfg: AnalysisConfig) -> LawResult:
    x = cfg.x
    pts = frontier_points(data.points, x)
    fit = fit_power_law(pts[x], pts["loss"], x=x, config=cfg.fit)
    logx, logy = np.log(pts[x].to_numpy(float))[None], np.log(pts["loss"].to_numpy(float))
    theta = np.array([np.log(fit.E), np.log(fit.A), fit.alpha])
    samples = to_natural(bootstrap_theta(logx, logy, theta, cfg.fit, cfg.bootstrap))
    names = ("E", "A", "alpha")
    est = _estimates(samples, names, fit.params, cfg.bootstrap.level)
    preds = []
    for point in map(_complete, cfg.predict):
        if x in point:
            X = point[x]
            boot = samples[:, 0] + samples[:, 1] * X ** (-samples[:, 2])
            value = float(fit.predict(X))
            preds.append(Prediction({x: X}, "loss", summarize(boot, value, cfg.bootstrap.level)))
    bt, warns = _backtest(pts, "power", cfg)
    warns += diag.check_fit("power", fit, pts[[x]], est, cfg.trust)
    warns += diag.check_bootstrap("power", samples, cfg.trust)
    warns += diag.check_extrapolation("power", [p.inputs for p in preds], pts, cfg.trust)
    return LawResult("power", fit, est, tuple(preds), samples, names, bt, tuple(warns))


def _chinchilla_predictions(
    fit: ChinchillaFit, samples: np.ndarray, points: tuple[dict, ...], level: float
) -> list[Prediction]:
    preds = []
    for raw in points:
        point = _complete(raw)
        if "N" in point and "D" in point:
            N, D = point["N"], point["D"]
            E, A, B, al, be = samples.T
            boot = E + A * N ** (-al) + B * D ** (-be)
            est = summarize(boot, float(fit.predict(N, D)), level)
            preds.append(Prediction({"N": N, "D": D}, "loss", est))
        elif "C" in point:
            C = point["C"]
            boot = chinchilla_arrays(samples, C)
            full = chinchilla_arrays(np.array([list(fit.params.values())]), C)
            for q in ("loss_opt", "N_opt", "D_opt", "tokens_per_param"):
                est = summarize(boot[q], float(full[q][0]), level)
                preds.append(Prediction({"C": C}, q, est))
    return preds


def _chinchilla(data: ScalingData, cfg: AnalysisConfig) -> LawResult:
    pts = data.points
    fit = fit_chinchilla(pts["N"], pts["D"], pts["loss"], cfg.fit)
    logx = np.log(pts[["N", "D"]].to_numpy(float)).T
    logy = np.log(pts["loss"].to_numpy(float))
    theta = np.log([fit.E, fit.A, 1.0, fit.B, 1.0])
    theta[2], theta[4] = fit.alpha, fit.beta
    layout = to_natural(bootstrap_theta(logx, logy, theta, cfg.fit, cfg.bootstrap))
    samples = layout[:, [0, 1, 3, 2, 4]]  # optimiser order -> (E, A, B, alpha, beta)
    names = ("E", "A", "B", "alpha", "beta")
    level = cfg.bootstrap.level
    est = _estimates(samples, names, fit.params, level)
    c_max = float(pts["C"].max())
    derived = chinchilla_arrays(samples, c_max)
    est["a"] = summarize(derived["a"], fit.a, level)
    est["b"] = summarize(derived["b"], fit.b, level)
    est["tokens_per_param"] = summarize(
        derived["tokens_per_param"], float(fit.tokens_per_param(c_max)), level
    )
    preds = _chinchilla_predictions(fit, samples, cfg.predict, level)
    bt, warns = _backtest(pts, "chinchilla", cfg)
    warns += diag.check_fit("chinchilla", fit, pts[["N", "D"]], est, cfg.trust)
    warns += diag.check_bootstrap("chinchilla", samples, cfg.trust)
    warns += diag.check_extrapolation("chinchilla", [p.inputs for p in preds], pts, cfg.trust)
    return LawResult("chinchilla", fit, est, tuple(preds), samples, names, bt, tuple(warns), c_max)


def _frontier(data: ScalingData, approach: str, cfg: AnalysisConfig) -> LawResult:
    use_curves = approach == "envelope" and data.curves is not None and not data.curves.empty
    table = data.curves if use_curves else data.points
    fitter = envelope_frontier if approach == "envelope" else isoflop_frontier
    fit = fitter(table, cfg.frontier)
    # Resample whole runs, not curve points, so each learning curve stays together.
    unit_rows = (
        [np.flatnonzero(table["id"].to_numpy() == r) for r in table["id"].unique()]
        if use_curves
        else [np.array([i]) for i in range(len(table))]
    )

    def stat(idx: np.ndarray) -> np.ndarray:
        rows = np.concatenate([unit_rows[i] for i in idx])
        return fitter(table.iloc[rows], cfg.frontier).vector

    with threadpool_limits(limits=1, user_api="blas"):  # tiny solves; threads only cost here
        samples = bootstrap_apply(stat, len(unit_rows), cfg.bootstrap)
    names = ("a", "log_kn", "b", "log_kd")
    est = _estimates(samples, names, dict(zip(names, fit.vector, strict=True)), cfg.bootstrap.level)
    c_max = float(data.points["C"].max())
    tpp = np.exp(samples[:, 3] - samples[:, 1]) * c_max ** (samples[:, 2] - samples[:, 0])
    est["tokens_per_param"] = summarize(
        tpp, float(fit.tokens_per_param(c_max)), cfg.bootstrap.level
    )
    preds = []
    for point in cfg.predict:
        if "C" in point:
            C = point["C"]
            n = np.exp(samples[:, 1]) * C ** samples[:, 0]
            d = np.exp(samples[:, 3]) * C ** samples[:, 2]
            for q, boot, value in (
                ("N_opt", n, fit.n_opt(C)),
                ("D_opt", d, fit.d_opt(C)),
                ("tokens_per_param", d / n, fit.tokens_per_param(C)),
            ):
                est_q = summarize(boot, float(value), cfg.bootstrap.level)
                preds.append(Prediction({"C": C}, q, est_q))
    warns = diag.check_bootstrap(approach, samples, cfg.trust)
    if len(fit.points) < 3:
        warns.append(f"{approach}: only {len(fit.points)} frontier points; exponents are fragile")
    warns += diag.check_extrapolation(approach, [p.inputs for p in preds], data.points, cfg.trust)
    return LawResult(approach, fit, est, tuple(preds), samples, names, None, tuple(warns), c_max)


def _unsupported(data: ScalingData, law: str, x: str) -> str | None:
    """Why ``law`` cannot be fitted to this data (None when it can)."""
    needs = {"power": (x,), "chinchilla": ("N", "D"), "frontier": ("N", "D", "C")}[law]
    for var in needs:
        if not data.has(var):
            return f"no {var} values (map a column with --columns {var}=<col>)"
        if data.points[var].nunique() < 2:
            return f"{var} takes a single value"
    return None


def run_analysis(data: ScalingData, config: AnalysisConfig | None = None) -> Analysis:
    """Fit every requested law the data supports, with intervals, backtests and warnings."""
    cfg = config or AnalysisConfig()
    if data.points.empty:
        raise ValueError(f"{data.source}: no finished runs to fit ({len(data.excluded)} excluded)")
    results: dict[str, LawResult] = {}
    skipped: dict[str, str] = {}
    for law in dict.fromkeys(cfg.laws):
        reason = _unsupported(data, law, cfg.x)
        if reason is not None:
            skipped[law] = reason
            continue
        try:
            if law == "power":
                results["power"] = _power(data, cfg)
            elif law == "chinchilla":
                results["chinchilla"] = _chinchilla(data, cfg)
            else:
                for approach in ("envelope", "isoflop"):
                    try:
                        results[approach] = _frontier(data, approach, cfg)
                    except ValueError as err:
                        skipped[approach] = str(err).removeprefix(f"{approach}: ")
        except ValueError as err:
            skipped[law] = str(err).removeprefix(f"{law}: ")
    warnings = diag.check_metric_mode(data.mode, data.metric)
    for res in results.values():
        warnings += list(res.warnings)
    return Analysis(data, cfg, results, skipped, tuple(dict.fromkeys(warnings)))
