"""Which estimator earns the forecast: the one whose backtests on this sweep are best.

Two choices, made once per analysis and shown in the terminal, ``report.md``, the JSON and
``forecast.json``:
- the loss at the optimum: Approach 3's L(N*, D*), the minima law L*(C) or the compute law,
  each scored on the same question (refit on budgets 1..k, predict budget k + 1's lowest loss);
- the allocation N*, D*: Approach 2 (IsoFLOP) or Approach 3, scored on N* at held-out budgets.
A candidate is eligible when its forward backtests miss by at most ``max_backtest_error`` on
average and it raised no calibration warning. For the allocation the eligible one with the
lowest mean |error| wins. For the loss at a forecast target, among the eligible laws the one
with the narrowest 95 % predictive interval there wins: that interval is the law's bootstrap
widened by its own held-out errors, so it already charges a law for what its backtests missed,
and among forecasts that pass their calibration the sharpest is the most useful ("maximise
sharpness subject to calibration", Gneiting, Balabdaoui & Raftery 2007). Backtest errors a few
hundredths of a per cent apart over a handful of budgets do not tell laws apart; interval
widths that differ by a third do. When none is eligible the lowest error still wins, and the
verdict already says CAUTION.

    choice = choose_estimators(results, TrustConfig(), target=1.6e13)
    choice.loss, choice.loss_reason, choice.scores["loss"]["minima"]["mean_abs_error"]
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.checks.calibration import judged
from analysis.checks.trust import TrustConfig
from analysis.laws.result import Draws, chinchilla_curves, power_curves
from analysis.outcome import LawResult

LOSS_CANDIDATES = ("minima", "chinchilla", "compute")
ALLOCATION_CANDIDATES = ("isoflop", "chinchilla")
TIE_ORDER = {"minima": 0, "isoflop": 0, "chinchilla": 1, "compute": 2}
"""On equal errors: the estimator that assumes no joint loss form first."""


class Choice(NamedTuple):
    """The estimators a forecast takes its numbers from, and the evidence for each."""

    loss: str | None
    loss_reason: str
    allocation: str | None
    allocation_reason: str
    scores: dict[str, dict[str, dict[str, float]]]
    """"loss"/"allocation" -> law -> {mean_abs_error, n, eligible (1/0), rms_log_error}."""


def _vertices(results: dict[str, LawResult]) -> pd.DataFrame | None:
    """C, N, D and loss at each budget's located minimum (the full-data IsoFLOP fit)."""
    iso = results.get("isoflop")
    if iso is None:
        return None
    return iso.fit.points.sort_values("C").reset_index(drop=True)


def _held_key(test_c: np.ndarray, vertices: pd.DataFrame | None) -> tuple[float, pd.Series | None]:
    """The held-out budget of a backtest split: its vertex (the nearest within 0.15 decades of
    the held-out rows' median C) when there is one, else the median C itself."""
    c = float(np.median(test_c))
    if vertices is not None and len(vertices):
        gap = np.abs(np.log10(vertices["C"].to_numpy(float) / c))
        if gap.min() <= 0.15:
            held = vertices.iloc[int(np.argmin(gap))]
            return float(held["C"]), held
    return float(f"{c:.2g}"), None


def loss_errors(
    name: str, res: LawResult, vertices: pd.DataFrame | None, trust: TrustConfig | None = None
) -> dict:
    """(kind, held-out budget C) -> relative error of ``res``'s backtests on its lowest loss.

    Kinds: "forward" (rolling origin, or leave-largest-out without it) and "left out"
    (leave-one-budget-out), so a law whose forward splits are few still shows its evidence.

    Approach 3's refits are asked for their loss_opt at the held-out budget and compared with
    that budget's vertex loss (what the forecast will be judged against); without vertices, its
    mean error on the held-out runs stands in. The minima and compute laws predict that loss
    directly (the compute law's held-out frontier points of one split are averaged). Only the
    splits the trust gate judges count (``analysis.checks.calibration.judged``).
    """
    splits = list(res.rolling) or ([res.backtest] if res.backtest is not None else [])
    scored = judged([*splits, *res.leave_one_out], trust or TrustConfig())
    out: dict[tuple[str, float], float] = {}
    pairs = [("forward", b) for b in splits] + [("left out", b) for b in res.leave_one_out]
    for kind, bt in (pair for pair in pairs if any(pair[1] is b for b in scored)):
        c, held = _held_key(bt.table[bt.key].to_numpy(float), vertices)
        key = (kind, c)
        fit = getattr(bt, "fit", None)
        if name == "chinchilla" and held is not None and fit is not None:
            out[key] = float(fit.loss_opt(float(held["C"]))) / float(held["loss"]) - 1.0
        else:
            out[key] = float(np.mean(bt.table["rel_error"].to_numpy(float)))
    return out


def allocation_errors(
    name: str, res: LawResult, vertices: pd.DataFrame | None
) -> dict[float, float]:
    """Held-out budget C -> relative N* error: Approach 2's own frontier backtests, Approach
    3's rolling refits against the same vertices."""
    out: dict[tuple[str, float], float] = {}
    for bt in res.rolling:
        if name == "isoflop":
            for row in bt.table.itertuples():
                c, _ = _held_key(np.array([row.C]), vertices)
                out[("forward", c)] = row.N_pred / row.N - 1.0
            continue
        fit = getattr(bt, "fit", None)
        c, held = _held_key(bt.table[bt.key].to_numpy(float), vertices)
        if fit is not None and held is not None:
            out[("forward", c)] = float(fit.n_opt(float(held["C"]))) / float(held["N"]) - 1.0
    return out


def _common(errors: dict[str, dict]) -> dict[str, np.ndarray]:
    """Each candidate's errors on the held-out budgets every candidate predicted (a fair race:
    a law that needs more budgets to fit starts its rolling origin later); all of them when
    fewer than two budgets are shared."""
    keys = set.intersection(*(set(e) for e in errors.values())) if errors else set()
    use = (
        (lambda e: [e[k] for k in sorted(keys)]) if len(keys) >= 2 else (lambda e: list(e.values()))
    )
    return {name: np.asarray(use(e), dtype=float) for name, e in errors.items()}


def _score(errs: np.ndarray, limit: float, calibrated: bool) -> dict[str, float]:
    if len(errs) == 0:
        return {"mean_abs_error": math.nan, "n": 0, "eligible": 0, "rms_log_error": math.nan}
    mean = float(np.mean(np.abs(errs)))
    return {
        "mean_abs_error": mean,
        "n": int(len(errs)),
        "eligible": int(calibrated and mean <= limit),
        "rms_log_error": float(np.sqrt(np.mean(np.log1p(errs) ** 2))),
    }


def _pick(scores: dict[str, dict[str, float]], what: str) -> tuple[str | None, str]:
    scored = {k: v for k, v in scores.items() if v["n"] > 0}
    if not scored:
        return None, f"no {what} estimator has a forward backtest"
    order = sorted(
        scored,
        key=lambda k: (-scored[k]["eligible"], scored[k]["mean_abs_error"], TIE_ORDER.get(k, 9)),
    )
    best = order[0]
    s = scored[best]
    others = "; ".join(
        f"{k} {v['mean_abs_error']:.2%}{'' if v['eligible'] else ' (fails its backtests)'}"
        for k, v in scored.items()
        if k != best
    )
    status = "passes its backtests" if s["eligible"] else "best available, fails its backtests"
    return best, (
        f"{best}: mean |error| {s['mean_abs_error']:.2%} over {s['n']} held-out budgets "
        f"({status})" + (f"; against {others}" if others else "")
    )


def choose_estimators(
    results: dict[str, LawResult],
    cfg: TrustConfig,
    ineligible: set[str] | None = None,
    target: float | None = None,
    seed: int = 0,
) -> Choice:
    """The loss and allocation estimators that earn the forecast on this sweep's backtests.

    ``ineligible``: laws with a warning of their own (a backtest that misses or is
    over-confident, a parameter not identified); they are chosen only when no other law is
    eligible. ``target``: the forecast's C; with it, the loss comes from the eligible law with
    the narrowest predictive interval there (``_sharpest``), without it from the lowest error.
    """
    bad = ineligible or set()
    vertices = _vertices(results)
    loss_err = _common(
        {k: loss_errors(k, results[k], vertices, cfg) for k in LOSS_CANDIDATES if k in results}
    )
    alloc_err = _common(
        {
            k: allocation_errors(k, results[k], vertices)
            for k in ALLOCATION_CANDIDATES
            if k in results
        }
    )
    loss_scores = {k: _score(e, cfg.max_backtest_error, k not in bad) for k, e in loss_err.items()}
    alloc_scores = {
        k: _score(e, cfg.max_frontier_backtest_error, k not in bad) for k, e in alloc_err.items()
    }
    loss, loss_why = _pick(loss_scores, "loss")
    if target is not None:
        loss, loss_why = _sharpest(results, loss_scores, target, seed) or (loss, loss_why)
    alloc, alloc_why = _pick(alloc_scores, "allocation")
    if loss is None and "chinchilla" in results:
        loss, loss_why = "chinchilla", "chinchilla: the only loss estimator (no forward backtest)"
    if alloc is None:
        alloc = next((k for k in ALLOCATION_CANDIDATES if k in results), None)
        alloc_why = f"{alloc}: the only allocation estimator (no forward backtest)" if alloc else ""
    return Choice(
        loss, loss_why, alloc, alloc_why, {"loss": loss_scores, "allocation": alloc_scores}
    )


def _sharpest(
    results: dict[str, LawResult], scores: dict[str, dict[str, float]], C: float, seed: int
) -> tuple[str, str] | None:
    """(law, why) of the eligible loss law with the narrowest 95 % predictive interval at C;
    None when fewer than two laws are eligible (then the lowest error stands)."""
    eligible = [k for k, s in scores.items() if s["eligible"] and k in results]
    if len(eligible) < 2:
        return None
    widths = {}
    for k in eligible:
        band = _Band.of(*_predictive(k, results[k], scores[k], C, seed)[:2])
        width = (band.hi - band.lo) / band.value
        widths[k] = width if band.value > 0 and math.isfinite(width) else math.inf
    best = min(eligible, key=lambda k: (widths[k], TIE_ORDER.get(k, 9)))
    s = scores[best]
    others = "; ".join(
        f"{k} {widths[k]:.1%} ({scores[k]['mean_abs_error']:.2%})" for k in eligible if k != best
    )
    return best, (
        f"{best}: the narrowest 95 % interval at C={C:.3g} ({widths[best]:.1%}) of the laws that "
        f"pass their backtests (mean |error| {s['mean_abs_error']:.2%} over {s['n']} held-out "
        f"budgets); against {others}"
    )


MIN_ERRORS = 3
"""Forward errors needed before their scatter sets the residual term (count)."""


def _boot_at(name: str, res: LawResult, C: float, N: float | None, D: float | None):
    """(point value, bootstrap samples) of the loss ``name`` predicts for the run at C."""
    draws = Draws.of(res)
    if name == "chinchilla":
        from analysis.laws.forms import allocation  # the joint law's optimum along the budget

        if N is not None and D is not None:
            return float(res.fit.predict(N, D)), chinchilla_curves(draws, N, D)
        full = allocation(np.array([list(res.fit.params.values())]), C, res.fit.compute)
        boot = (
            allocation(draws.values, C, res.fit.compute)["loss_opt"] if len(draws) else np.empty(0)
        )
        return float(full["loss_opt"][0]), boot
    boot = power_curves(draws, C) if len(draws) else np.empty(0)
    return float(res.fit.predict(C)), boot


def predictive_loss(
    results: dict[str, LawResult],
    choice: Choice,
    C: float,
    seed: int = 0,
    N: float | None = None,
    D: float | None = None,
) -> tuple[float, np.ndarray, str]:
    """(value, samples, how) of the loss at ``C`` from the chosen loss estimator.

    The samples are the law's bootstrap at C times a log-normal residual term whose scale is
    the rms of the same law's forward backtest errors (what its extrapolations really missed
    by), so the interval is as wide as this sweep's evidence for that law says. With fewer than
    ``MIN_ERRORS`` of them the law's in-sample scatter stands in. ``N``, ``D``: the run's shape,
    used by Approach 3 (the other laws predict the loss at the optimum of C).
    """
    name = choice.loss
    if name is None or name not in results:
        raise ValueError("--forecast: no law predicts the loss (needs N, D and C or budgets)")
    return _predictive(name, results[name], choice.scores["loss"].get(name, {}), C, seed, N, D)


def _predictive(
    name: str,
    res: LawResult,
    score: dict[str, float],
    C: float,
    seed: int,
    N: float | None = None,
    D: float | None = None,
) -> tuple[float, np.ndarray, str]:
    """``predictive_loss`` of one law, given its backtest ``score``."""
    value, boot = _boot_at(name, res, C, N, D)
    if score.get("n", 0) >= MIN_ERRORS:
        sigma = float(score["rms_log_error"])
        how = f"backtests' held-out scatter ({score['n']} errors, rms {sigma:.2%})"
    else:
        sigma, how = _in_sample_scatter(name, res), "in-sample residual scatter (too few backtests)"
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        boot = np.full(2000, value)
    noisy = boot * np.exp(np.random.default_rng(seed).normal(0.0, sigma, size=len(boot)))
    n_boot = len(res.samples)
    return value, noisy, f"{name}: bootstrap ({n_boot} resamples) x {how}"


def _in_sample_scatter(name: str, res: LawResult) -> float:
    pts = getattr(res, "points", None)
    if name == "minima" and pts is not None and len(pts):
        r = np.log(pts["loss"].to_numpy(float) / res.fit.predict(pts["C"].to_numpy(float)))
        return float(np.sqrt(np.sum(r**2) / max(len(r) - 3, 1)))
    return 0.0


def headline_precision(
    results: dict[str, LawResult], choice: Choice, target: float | None, seed: int, cfg=None
) -> tuple:
    """Graded 95 % intervals of what a forecast states: a and b (allocation estimator), N*
    and D* at ``target`` (same), and the predicted loss at ``target`` (loss estimator, with
    the residual term of ``predictive_loss``)."""
    from analysis.checks.precision import row  # grading lives with the checks

    rows = []
    alloc = results.get(choice.allocation) if choice.allocation else None
    if alloc is not None:
        for q in ("a", "b"):
            if q in alloc.estimates:
                rows.append(row(q, choice.allocation, alloc.estimates[q], cfg=cfg))
        for p in alloc.predictions:
            if (
                target is not None
                and p.inputs.get("C") == target
                and p.quantity
                in (
                    "N_opt",
                    "D_opt",
                )
            ):
                rows.append(row(p.quantity[0] + "*", choice.allocation, p.estimate, target, cfg))
    if target is not None and choice.loss is not None:
        est = _Band.of(*predictive_loss(results, choice, target, seed)[:2])
        rows.append(row("loss", choice.loss, est, target, cfg))
    return tuple(rows)


class _Band(NamedTuple):
    value: float
    lo: float
    hi: float

    @classmethod
    def of(cls, value: float, samples: np.ndarray) -> _Band:
        """``value`` with the central 95 % of ``samples`` (NaN bounds with fewer than two)."""
        lo, hi = np.percentile(samples, [2.5, 97.5]) if len(samples) > 1 else (math.nan,) * 2
        return cls(value, float(lo), float(hi))
