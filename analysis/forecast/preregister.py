"""A preregistered forecast: N*, D* and the final loss of a run nobody has trained yet.

Built from a finished ``Analysis`` (no refitting): the compute frontier (Approaches 1/2) and
Approach 3 each give N*(C) and D*(C) with bootstrap samples; one is chosen, the loss at the
chosen (N*, D*) comes from Approach 3's bootstrap widened by the residual scatter the backtests
measured, and the record is written once, before anything runs.

    target = parse_target("10x", data)                      # FLOPs
    forecast = make_forecast(analysis, target, hyperparameters={"optim.lr": 3e-3})
    write_forecast(forecast, Path("results/scaling/fit"))   # refuses to overwrite

Why the forecast carries N* and not a model shape: the shape rule (``models.shapes.gpt_shape``)
lives in ``models``, which imports torch, and the analysis imports neither torch nor ``models``.
The launcher (``sweeps.new --forecast`` or a pipeline's forecast stage) turns N* into a shape
with that rule, writes it in its YAML, and the scorer copies the run's shape into the ledger.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from analysis.fit_all import largest_budget
from analysis.forecast.choice import choose_estimators, predictive_loss
from analysis.laws.forms import ComputeModel, allocation
from analysis.laws.result import Draws, frontier_curves
from analysis.load.sweep_tables import ScalingData
from analysis.outcome import Analysis, LawResult
from analysis.report.provenance import _commit
from contract.forecast import FORECAST_FILE, Forecast, Interval

MAX_SPAN = 10.0
"""A frontier whose 95 % interval of N* spans more than this factor is not chosen."""
MIN_FRONTIER_POINTS = 3
"""Budgets (or envelope points) a frontier needs before its N* is trusted over Approach 3."""
VOLATILE = ("created", "commit")
"""Provenance that may differ between two writes of the same forecast."""
_RELATIVE = re.compile(r"^\s*([0-9.eE+-]+)\s*x\s*$")


def parse_target(spec: str, data: ScalingData) -> float:
    """``C=1e14`` (FLOPs) or ``10x`` (times the largest nominal budget, else the largest C)."""
    text = spec.strip()
    match = _RELATIVE.match(text)
    try:
        if match:
            factor = float(match.group(1))
            if not (factor > 0 and math.isfinite(factor)):
                raise ValueError
            ref = largest_budget(data)
            if not math.isfinite(float(ref)):
                raise ValueError(f"--forecast: {data.source} has no C to scale by {factor:g}x")
            value = float(ref) * factor
            if not math.isfinite(value):
                raise ValueError(f"--forecast: {text} is past the range of a number of FLOPs")
            return value
        key, sep, raw = text.partition("=")
        if key.strip() != "C" or not sep:
            raise ValueError
        value = float(raw)
    except ValueError as err:
        if str(err).startswith("--forecast"):
            raise
        raise ValueError(f"--forecast: expected C=<FLOPs> or <k>x, got {spec!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"--forecast: C must be a positive number of FLOPs, got {raw.strip()}")
    return value


def rows_hash(data: ScalingData) -> str:
    """Hash of the fitted rows (id, N, D, C, loss): the forecast's data identity."""
    cols = [c for c in ("id", "N", "D", "C", "loss") if c in data.points]
    table = data.points[cols].sort_values(cols[0]).to_csv(index=False, float_format="%.10g")
    return hashlib.sha256(table.encode()).hexdigest()[:16]


def forecast_key(target_flops: float, rows: str, n_star: float, loss: float) -> str:
    """A forecast's id: its target, its rows and what it states. The same rows fitted by
    another version of the analysis that states another N* or loss get another id, so the
    ledger (keyed by id and run) never files a second prediction under the first one's name."""
    text = f"{target_flops:.6e}|{rows}|{n_star:.6e}|{loss:.6e}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def interval(samples: np.ndarray, value: float) -> Interval:
    """Central 80 % and 95 % percentile intervals of finite ``samples`` around ``value``."""
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if len(s) < 2:
        return Interval(float(value), *([math.nan] * 4))
    lo95, lo80, hi80, hi95 = np.percentile(s, [2.5, 10.0, 90.0, 97.5])
    return Interval(float(value), float(lo80), float(hi80), float(lo95), float(hi95))


def frontier_estimate(res: LawResult, C: float) -> tuple[Interval, Interval]:
    """N* and D* at ``C`` from Approach 1 or 2: N = exp(log_kn) C^a, D = exp(log_kd) C^b."""
    draws = Draws.of(res)
    n, d = frontier_curves(draws, C) if len(draws) else (np.empty(0), np.empty(0))
    return interval(n, float(res.fit.n_opt(C))), interval(d, float(res.fit.d_opt(C)))


def approach3_estimate(res: LawResult, C: float) -> tuple[Interval, Interval]:
    """N* and D* at ``C`` from the joint law, under the rows' own C = k(N) N D."""
    compute = res.fit.compute
    full = allocation(np.array([list(res.fit.params.values())]), C, compute)
    boot = allocation(res.samples, C, compute) if len(res.samples) else None
    pick = (lambda q: boot[q]) if boot is not None else (lambda q: np.empty(0))
    return (
        interval(pick("N_opt"), float(full["N_opt"][0])),
        interval(pick("D_opt"), float(full["D_opt"][0])),
    )


def _span(iv: Interval) -> float:
    return iv.hi95 / iv.lo95 if iv.lo95 > 0 and math.isfinite(iv.hi95) else math.inf


def _estimates(analysis: Analysis, C: float) -> dict[str, Any]:
    """N* and D* at ``C`` from every approach that gives them, for the report."""
    estimates: dict[str, Any] = {}
    for name in ("isoflop", "envelope"):
        res = analysis.results.get(name)
        if res is not None:
            n, d = frontier_estimate(res, C)
            estimates[name] = {"n_star": n, "d_star": d, "points": len(res.fit.points)}
    if "chinchilla" in analysis.results:
        n, d = approach3_estimate(analysis.results["chinchilla"], C)
        estimates["approach3"] = {"n_star": n, "d_star": d}
    return estimates


def choose(analysis: Analysis, C: float) -> tuple[str, Interval, Interval, str, dict[str, Any]]:
    """The estimate of N*, D* to launch, why, and every estimate for the report.

    The allocation estimator is the one whose N* backtests on this sweep are best
    (``analysis.forecast.choice``); without any backtest, the IsoFLOP frontier when it has
    enough budgets and a usable interval (it measures each budget's optimum, no loss form
    assumed), then the envelope, then Approach 3.
    """
    estimates = _estimates(analysis, C)
    choice = analysis.choice
    picked = choice.allocation if choice is not None else None
    key = "approach3" if picked == "chinchilla" else picked
    if key in estimates and choice.scores["allocation"].get(picked, {}).get("n", 0):
        est = estimates[key]
        return key, est["n_star"], est["d_star"], choice.allocation_reason, estimates
    for name in ("isoflop", "envelope"):
        est = estimates.get(name)
        if est is None or est["points"] < MIN_FRONTIER_POINTS or _span(est["n_star"]) > MAX_SPAN:
            continue
        reason = (
            f"{name} frontier: {est['points']} frontier points, N* 95 % interval spans "
            f"{_span(est['n_star']):.2g}x; it measures the optimum per budget, no loss form assumed"
        )
        return name, est["n_star"], est["d_star"], reason, estimates
    if "approach3" in estimates:
        why = [
            f"{k} has {v['points']} points / spans {_span(v['n_star']):.2g}x"
            for k, v in estimates.items()
            if k != "approach3"
        ]
        reason = "approach 3 (joint L(N, D)): " + ("; ".join(why) or "no frontier was fitted")
        est = estimates["approach3"]
        return "approach3", est["n_star"], est["d_star"], reason, estimates
    raise ValueError("--forecast: needs the frontier or the joint law (N, D and C columns)")


def predicted_loss(
    analysis: Analysis, C: float, N: float, D: float, seed: int
) -> tuple[Interval, str, str, str]:
    """(loss interval, how it was built, estimator, why that one) for the run (N, D) at C.

    The loss comes from the estimator whose held-out errors on this sweep are best
    (``analysis.forecast.choice``): the minima law or the compute law predict the loss at C's
    optimum, Approach 3 the loss of the run (N, D). Its bootstrap is widened by a log-normal
    term the size of that estimator's own backtest scatter.
    """
    choice = analysis.choice
    if choice is None:
        choice = choose_estimators(analysis.results, analysis.config.trust)
    value, samples, how = predictive_loss(analysis.results, choice, C, seed, N, D)
    return interval(samples, value), how, choice.loss or "", choice.loss_reason


def make_forecast(
    analysis: Analysis,
    target_flops: float,
    hyperparameters: dict[str, Any] | None = None,
    created: str | None = None,
) -> Forecast:
    """The forecast at ``target_flops`` from an analysis that has already run."""
    chosen, n_star, d_star, reason, estimates = choose(analysis, target_flops)
    compute: ComputeModel = analysis.data.compute
    # The run spends the budget: its tokens follow from N* with the rows' own FLOPs per token.
    d_run = float(compute.tokens(target_flops, n_star.value))
    seed = analysis.config.bootstrap.seed
    loss, how, loss_from, loss_reason = predicted_loss(
        analysis, target_flops, n_star.value, d_run, seed
    )
    rh = rows_hash(analysis.data)
    fid = forecast_key(target_flops, rh, n_star.value, loss.value)
    alternatives = {
        k: {q: v[q].__dict__ for q in ("n_star", "d_star")} for k, v in estimates.items()
    }
    alternatives["loss_interval"] = how
    alternatives["loss_from"] = loss_from
    alternatives["loss_reason"] = loss_reason
    if analysis.choice is not None:
        alternatives["estimator_scores"] = analysis.choice.scores
    alternatives["run_tokens"] = d_run
    alternatives["compute_model"] = compute.describe()
    return Forecast(
        forecast_id=fid,
        source=analysis.data.source,
        metric=analysis.data.metric,
        target_flops=float(target_flops),
        chosen=chosen,
        reason=reason,
        n_star=n_star,
        d_star=d_star,
        loss=loss,
        shape={},
        hyperparameters=dict(hyperparameters or {}),
        provenance={
            "rows_hash": rh,
            "commit": _commit(),
            "created": created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "rows": str(len(analysis.data.points)),
        },
        alternatives=alternatives,
    )


def forecast_slot(forecast: Forecast, out_dir: Path) -> bool:
    """Whether ``out_dir`` already holds this same forecast (True) or none (False); any other
    file there, a symbolic link (a dangling one would be written through) or an unreadable
    file is refused with a ValueError naming it: a preregistration is never overwritten."""
    path = Path(out_dir) / FORECAST_FILE
    if path.is_symlink():
        raise ValueError(f"{path}: a symbolic link; a forecast is written only as a new file")
    if not path.exists():
        return False
    try:
        old = Forecast.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise ValueError(
            f"{path}: exists and is not a readable forecast ({err.__class__.__name__}); "
            "it is never overwritten: pick another --out"
        ) from None
    # Same target and rows: the same forecast, even if rerun later or after another commit.
    same = {**forecast.provenance, **{k: old.provenance.get(k, "") for k in VOLATILE}}
    if Forecast(**{**forecast.__dict__, "provenance": same}).to_json() == old.to_json():
        return True
    raise ValueError(
        f"{path}: a forecast is already preregistered here ({old.forecast_id}, "
        f"C={old.target_flops:.3g}); it is never overwritten: pick another --out"
    )


def write_forecast(forecast: Forecast, out_dir: Path) -> tuple[Path, bool]:
    """Write ``forecast.json`` once; returns (path, written). An existing file of the same
    forecast (same target and rows, differing at most in its creation time and commit) is kept as is;
    anything else is refused (``forecast_slot``)."""
    path = Path(out_dir) / FORECAST_FILE
    if forecast_slot(forecast, out_dir):
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as f:  # never through a link or over a racing writer
        f.write(forecast.to_json() + "\n")
    return path, True


def _iv(iv: Interval, fmt: str = "{:.4g}") -> str:
    f = fmt.format
    return f"{f(iv.value)} (80 %: {f(iv.lo80)}-{f(iv.hi80)}; 95 %: {f(iv.lo95)}-{f(iv.hi95)})"


def forecast_markdown(forecast: Forecast) -> str:
    """The report's forecast section."""
    lines = [
        "## Forecast (preregistered)",
        "",
        f"- id `{forecast.forecast_id}`, target C = {forecast.target_flops:.4g} training FLOPs",
        f"- chosen: **{forecast.chosen}**: {forecast.reason}",
        "",
        "| estimate | N* | D* |",
        "|---|---|---|",
    ]
    for name, est in forecast.alternatives.items():
        if isinstance(est, dict) and "n_star" in est:
            n, d = Interval(**est["n_star"]), Interval(**est["d_star"])
            lines.append(f"| {name} | {_iv(n, '{:.3g}')} | {_iv(d, '{:.3g}')} |")
    lines += [
        "",
        f"- run: N* = {forecast.n_star.value:.4g} on "
        f"{forecast.alternatives.get('run_tokens', forecast.d_star.value):.4g} tokens "
        f"({forecast.alternatives.get('compute_model', '')}); the launcher derives the shape",
        f"- predicted final {forecast.metric}: {_iv(forecast.loss)}",
        f"- loss from: {forecast.alternatives.get('loss_reason', 'approach 3')}",
        f"- intervals: {forecast.alternatives.get('loss_interval', '')}",
        "- hyperparameters: "
        + (", ".join(f"{k} = {v}" for k, v in forecast.hyperparameters.items()) or "the sweep's"),
        "- provenance: " + ", ".join(f"{k} {v}" for k, v in forecast.provenance.items()),
        "",
    ]
    return "\n".join(lines)


def sweep_hyperparameters(spec: dict | None) -> dict[str, Any]:
    """The source sweep's optimiser settings as dotted paths (axes left out: they vary)."""
    out: dict[str, Any] = {}
    optim = (spec or {}).get("optim")
    if isinstance(optim, dict):
        for key, value in optim.items():
            if isinstance(value, (int, float, str, bool)):
                out[f"optim.{key}"] = value
    return out


def forecast_with_rules(
    analysis: Analysis, target_flops: float
) -> tuple[Forecast, Any, str | None]:
    """The forecast plus the learning-rate rule when the sweep supports one.

    Returns (forecast, rule or None, why no rule). With a rule, the run's optim.lr is the
    rule's lr at N*; otherwise the sweep's own settings are used and the reason is given.
    """
    from analysis.laws.lr_rule import fit_lr_rule, lr_table  # only needed with a forecast

    hyper = sweep_hyperparameters(analysis.data.spec)
    rule, why = None, None
    table = lr_table(analysis.data)
    if table is None:
        why = "no optim.lr axis with >= 3 values: the sweep's own optimiser settings are used"
    else:
        try:
            rule = fit_lr_rule(table, seed=analysis.config.bootstrap.seed)
        except ValueError as err:
            why = f"{err}: the sweep's own optimiser settings are used"
    forecast = make_forecast(analysis, target_flops, hyper)
    if rule is not None:
        lr = float(f"{rule.predict(forecast.n_star.value):.4g}")
        forecast = Forecast(**{**forecast.__dict__, "hyperparameters": {**hyper, "optim.lr": lr}})
    return forecast, rule, why
