"""One call from loaded data to every fit, interval, prediction, backtest and warning.

``run_analysis`` is what the CLI runs and what a notebook should call; it returns a typed
``Analysis`` that ``analysis.report.render`` renders and ``analysis.report.plots`` draws.

    data = load_scaling_data("results/my-sweep")
    result = run_analysis(data, AnalysisConfig(predict=({"N": 1e9, "D": 2e10},)))
    result.results["chinchilla"].estimates["alpha"]        # Estimate(value, lo, hi, se)
"""

from __future__ import annotations

import math

from analysis.checks import trust as diag
from analysis.checks.lack_of_fit import is_misfit
from analysis.config import LAWS, AnalysisConfig, LawName
from analysis.forecast.choice import choose_estimators, headline_precision
from analysis.laws.frontier import on_budget_grid
from analysis.laws.frontier_fits import frontier_result
from analysis.laws.loss_laws import Progress, chinchilla_result, frontier_points, power_result
from analysis.laws.minima_law import minima_result
from analysis.load.sweep_tables import ScalingData
from analysis.outcome import Analysis, LawResult, Prediction
from contract.results import BUDGET

__all__ = [
    "LAWS",
    "Analysis",
    "AnalysisConfig",
    "LawName",
    "LawResult",
    "Prediction",
    "frontier_points",
    "run_analysis",
]

DEFAULT_TARGET_FACTOR = 10.0
"""With no --predict, the compute-optimal forecast is made at this multiple of the largest C."""


BUDGET_LIMITED = (
    "every run is trained to a nominal FLOP budget (column 'budget'), so the best loss per "
    "{x} mixes budgets and is limited by data; L({x}) assumes runs that are not"
)


ENVELOPE_ON_GRID = (
    "every run is trained to a nominal FLOP budget (column 'budget'), so the annealed points sit "
    "on each budget's grid of sizes and Approach 1's frontier is each budget's best grid point: "
    "Approach 2 on the same points without its parabola, with an N* that moves a whole grid step "
    "when a resample drops one run (ask for it with --law frontier)"
)


COMPUTE_ON_GRID = (
    "every run is trained to a nominal FLOP budget (column 'budget'), so the compute frontier of "
    "annealed points is each budget's best grid point; the minima law fits the loss at each "
    "budget's located minimum instead (ask for it with --law compute)"
)


def budget_limited(data: ScalingData, law: str, x: str) -> bool:
    """Whether ``law`` is L(N) or L(D) on a compute-budget sweep.

    L(X) = E + A X^-alpha describes the best loss reachable at X when nothing else limits the
    run. In a compute sweep every run stops at its FLOP budget, so the best loss per N is the
    best over a few budgets, each of which caps the data a large model sees: the points bend
    away from the law at large N for a reason the law does not model.
    """
    return law == "power" and x in ("N", "D") and on_budget_grid(data.points)


def _unsupported(data: ScalingData, law: str, x: str) -> str | None:
    """Why ``law`` cannot be fitted to this data (None when it can)."""
    needs = {
        "power": (x,),
        "chinchilla": ("N", "D"),
        "frontier": ("N", "D", "C"),
        "minima": ("N", "D", "C"),
        "compute": ("C",),
    }[law]
    for var in needs:
        if not data.has(var):
            return f"no {var} values (map a column with --columns {var}=<col>)"
        if data.points[var].nunique() < 2:
            return f"{var} takes a single value"
    if data.points["loss"].nunique() < 2:
        return "every run has the same loss"
    return None


def largest_budget(data: ScalingData) -> float:
    """What "k x" multiplies: the largest nominal budget when the rows carry one, else the
    largest C. A run's C misses its budget by up to the planning tolerance, so a target taken
    from C would sit a hair beyond the horizon the design check measures from the budgets."""
    points = data.points
    if BUDGET in points and points[BUDGET].notna().any():
        return float(points[BUDGET].max())
    return float(points["C"].max())


def _with_default_target(data: ScalingData, cfg: AnalysisConfig) -> AnalysisConfig:
    """Forecast at 10x the largest budget when the user named no compute target."""
    if any("C" in p for p in cfg.predict) or not data.has("C"):
        return cfg
    target = largest_budget(data) * DEFAULT_TARGET_FACTOR
    return cfg.model_copy(update={"predict": (*cfg.predict, {"C": target})})


def _fit_one(data, law, cfg, progress, results, skipped) -> None:
    try:
        if law == "power":
            results["power"] = power_result(data, cfg, progress)
        elif law == "compute":
            results["compute"] = power_result(data, cfg, progress, law="compute")
        elif law == "minima":
            results["minima"] = minima_result(data, cfg, progress)
        elif law == "chinchilla":
            results["chinchilla"] = chinchilla_result(data, cfg, progress)
        else:
            for approach in ("envelope", "isoflop"):
                if approach == "envelope" and cfg.laws is None and on_budget_grid(data.points):
                    skipped[approach] = ENVELOPE_ON_GRID
                    continue
                try:
                    results[approach] = frontier_result(data, approach, cfg, progress)
                except ValueError as err:
                    skipped[approach] = str(err).removeprefix(f"{approach}: ")
    except ValueError as err:
        skipped[law] = str(err).removeprefix(f"{law}: ")


def run_analysis(
    data: ScalingData, config: AnalysisConfig | None = None, progress: Progress | None = None
) -> Analysis:
    """Fit every requested law the data supports, with intervals, backtests and warnings.

    ``progress`` (e.g. ``print``) receives a line as each law starts and as bootstraps advance.
    """
    cfg = config or AnalysisConfig()
    if data.points.empty:
        raise ValueError(f"{data.source}: no finished runs to fit ({len(data.excluded)} excluded)")
    cfg = _with_default_target(data, cfg)
    results: dict[str, LawResult] = {}
    skipped: dict[str, str] = {}
    warnings = [*data.warnings, *diag.check_metric_mode(data.mode, data.metric)]
    for law in dict.fromkeys(cfg.laws or LAWS):
        reason = _unsupported(data, law, cfg.x)
        if reason is None and law == "compute" and cfg.laws is None and on_budget_grid(data.points):
            reason = COMPUTE_ON_GRID
        if reason is None and budget_limited(data, law, cfg.x):
            why = BUDGET_LIMITED.format(x=cfg.x)
            if cfg.laws is None:
                reason = f"{why} (ask for it with --law power)"
            else:
                warnings.append(f"power: {why}; its exponent may not be that of such runs")
        if reason is not None:
            skipped[law] = reason
            continue
        if progress:
            progress(f"{law}: fitting {len(data.points)} runs")
        _fit_one(data, law, cfg, progress, results, skipped)
    target = next((p["C"] for p in reversed(cfg.predict) if "C" in p), None)
    choice = choose_estimators(results, cfg.trust, _ineligible(results), target, cfg.bootstrap.seed)
    unused = {n for n in LOSS_ONLY if n in results and n != choice.loss}
    for name, res in results.items():
        warnings += [] if name in unused else list(res.warnings)
    warnings += _across_laws(data, results, cfg)
    set_aside = tuple(w for n in sorted(unused) for w in results[n].warnings)
    rows = headline_precision(results, choice, target, cfg.bootstrap.seed, cfg.precision)
    return Analysis(
        data, cfg, results, skipped, tuple(dict.fromkeys(warnings)), choice, rows, set_aside
    )


def _across_laws(data: ScalingData, results: dict[str, LawResult], cfg: AnalysisConfig) -> list:
    """Agreement of the approaches' a and b, and the design checks that belong to no one law."""
    out = []
    for q in ("a", "b"):
        values = {n: r.estimates[q] for n, r in results.items() if q in r.estimates}
        out += diag.check_agreement(values, q)
    if any(k in results for k in ("isoflop", "minima", "chinchilla")):
        out += diag.check_budget_span(data.points, cfg.trust)
        out += diag.check_edge_minima(data.points, cfg.trust)
    return out


LOSS_ONLY = ("minima", "compute")
"""Laws whose only headline number is the forecast's loss: when another estimator is chosen for
it, nothing the fit reports comes from them, so their warnings are shown but do not make the
verdict CAUTION (the minima law's floor is often not pinned by six budgets at 1.5 % noise,
while Approach 3 beside it is sound; bench/gate_check.py)."""


def _ineligible(results: dict[str, LawResult]) -> set[str]:
    """Laws with a warning of their own (a backtest that misses or is over-confident, a
    parameter not identified, failed resamples...): not eligible to set the forecast while
    another law without one is. Checks across laws (agreement, design) are not a law's own,
    and a form that misses a pattern in the runs (``is_misfit``) is for the verdict: whether
    that pattern spoils its forecasts is what its backtests measure."""
    return {n for n, r in results.items() if any(not is_misfit(w) for w in r.warnings)}


def agreement_table(a: Analysis) -> list[tuple[str, str, float, float, float]]:
    """(quantity, approach, value, lo, hi) of a, b and tokens per parameter across approaches."""
    rows = []
    for q in ("a", "b", "tokens_per_param"):
        for name, res in a.results.items():
            e = res.estimates.get(q)
            if e is not None and math.isfinite(e.value):
                rows.append((q, name, e.value, e.lo, e.hi))
    return rows
