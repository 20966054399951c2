"""Render an ``Analysis``: a terminal table, a JSON-ready dict and a Markdown report.

JSON keeps every fitted parameter under its plain name (``E``, ``A``, ``B``, ``alpha``, ``beta``,
``a``, ``b``) inside the law's section, each as {value, lo, hi, se}; predictions carry their
inputs and interval the same way. An interval that spans decades is printed "not identified",
never as a bare standard error like 7e+14.

    print(format_table(result))
    json.dump(to_json(result), open("fit.json", "w"), indent=2)
    Path("out/report.md").write_text(to_markdown(result, plots=["power_N.png"]))
"""

from __future__ import annotations

import math
from pathlib import Path

from analysis.checks.backtest import BacktestResult
from analysis.checks.frontier_backtest import FrontierBacktest
from analysis.fit_all import agreement_table
from analysis.laws.forms import Estimate
from analysis.outcome import Analysis, LawResult
from analysis.report.provenance import provenance
from analysis.report.verdict import precision_lines, precision_markdown, verdict_json
from contract.fit_outputs import (
    N_POINTS,
    PREDICTIONS,
    QUANTITY,
    RUNS,
    SET_ASIDE,
    SKIPPED,
    TRUSTED,
    WARNINGS,
)
from contract.results import RUN_ID

TITLES = {
    "power": "power law  L(X) = E + A X^-alpha",
    "compute": "compute law  L(C) = L_inf + A C^-alpha (compute frontier)",
    "minima": "minima law  L*(C) = E + A C^-alpha (the loss at each IsoFLOP minimum)",
    "chinchilla": "Chinchilla Approach 3  L(N, D) = E + A/N^alpha + B/D^beta",
    "envelope": "Approach 1 (envelope)  N_opt = k_N C^a, D_opt = k_D C^b",
    "isoflop": "Approach 2 (IsoFLOP minima)  N_opt = k_N C^a, D_opt = k_D C^b",
}
HIDDEN = {"log_kn", "log_kd"}
"""Frontier prefactors are reported through predictions; their logs are noise to a reader."""
NOT_IDENTIFIED_RATIO = 100.0
"""An interval with hi/lo above this (or an SE above 10x the value) is "not identified"."""


def fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4g}"


def identified(e: Estimate) -> bool:
    """False when the interval is so wide that printing its numbers would mislead."""
    if not (math.isfinite(e.lo) and math.isfinite(e.hi)):
        return True
    if math.isfinite(e.se) and e.value != 0 and e.se > 10 * abs(e.value):
        return False
    return not (e.lo > 0 and e.hi / e.lo > NOT_IDENTIFIED_RATIO)


def _cells(e: Estimate) -> tuple[str, str, str, str]:
    if not identified(e):
        return fmt(e.value), "not identified", "", ""
    return fmt(e.value), fmt(e.lo), fmt(e.hi), fmt(e.se)


def _point(inputs: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3g}" for k, v in inputs.items())


def _rows(res: LawResult) -> list[tuple[str, Estimate]]:
    rows = [(n, e) for n, e in res.estimates.items() if n not in HIDDEN]
    return [
        (f"{n} @ C={res.reference_c:.3g}" if n == "tokens_per_param" else n, e) for n, e in rows
    ]


def _header(a: Analysis) -> list[str]:
    d = a.data
    cols = ", ".join(f"{k}={v}" for k, v in (d.columns or {}).items())
    boot = a.config.bootstrap
    runs = d.points[RUN_ID].nunique() if RUN_ID in d.points.columns else len(d.points)
    fitted = f"{len(d.points)} points of {runs} runs" if runs < len(d.points) else f"{runs} runs"
    return [
        f"source: {d.source}  ({fitted} fitted, {len(d.excluded)} excluded)",
        f"metric: {d.metric} ({d.mode});  columns: {cols}",
        f"compute: {d.c_source}",
        f"intervals: {boot.level:.0%} bootstrap percentile, {boot.n_resamples} resamples over "
        f"runs, seed {boot.seed}",
    ]


def _bt_text(bt: BacktestResult, what: str) -> str:
    drift = ""
    if bt.exponents:
        drift = "; refit " + ", ".join(f"{k}={v:.3f}" for k, v in bt.exponents.items())
    return (
        f"{what}: mean |error| {bt.mean_abs_rel_error:.2%}, max {bt.max_abs_rel_error:.2%}, "
        f"bias {bt.bias:+.2%}{drift}"
    )


def _frontier_bt_text(bt: FrontierBacktest, what: str) -> str:
    errs = "; ".join(
        f"{q} mean |error| {m:.1%}, max {x:.1%}, bias {b:+.1%}"
        for q, (m, x, b) in bt.errors.items()
    )
    drift = ", ".join(f"{k}={v:.3f}" for k, v in bt.exponents.items())
    return f"{what}: {errs}; refit {drift}"


def _frontier_backtest_lines(res: LawResult) -> list[str]:
    lines = []
    bt = res.backtest
    if isinstance(bt, FrontierBacktest):
        lines.append(
            "backtest: "
            + _frontier_bt_text(
                bt,
                f"refit on {bt.n_train} runs without the largest budget (C >= {bt.cutoff:.3g}), "
                f"predict its optimum",
            )
        )
    for r in res.rolling:
        lines.append(
            "rolling backtest: "
            + _frontier_bt_text(
                r,
                f"fit on {r.n_train} runs below C={r.cutoff:.3g}, predict "
                f"{r.n_holdout} optim{'um' if r.n_holdout == 1 else 'a'}",
            )
        )
    return lines


def _backtest_lines(res: LawResult) -> list[str]:
    if res.name in ("envelope", "isoflop"):
        return _frontier_backtest_lines(res)
    lines = []
    bt = res.backtest
    what = "budget minima" if res.name == "minima" else "runs"
    if bt is not None:
        lines.append(
            "backtest: "
            + _bt_text(
                bt,
                f"refit without the {bt.n_holdout} largest-{bt.key} {what} ({bt.key} >= "
                f"{bt.cutoff:.3g})",
            )
        )
    for r in res.rolling:
        lines.append(
            "rolling backtest: "
            + _bt_text(
                r,
                f"fit on {r.n_train} {what} below {r.key}={r.cutoff:.3g}, predict {r.n_holdout}",
            )
        )
    if res.leave_one_out:
        errs = [abs(e) for r in res.leave_one_out for e in r.table["rel_error"]]
        worst = max(res.leave_one_out, key=lambda r: r.mean_abs_rel_error)
        lines.append(
            f"leave-one-budget-out: {len(res.leave_one_out)} refits, each predicting the budget "
            f"it left out: mean |error| {sum(errs) / len(errs):.2%}, worst budget "
            f"{worst.key}={worst.cutoff:.3g} at {worst.mean_abs_rel_error:.2%}"
        )
    return lines


def _verdict(a: Analysis) -> str:
    if not a.results:
        return "trust: NOTHING FITTED"
    return "trust: OK" if a.trusted else f"trust: CAUTION ({len(a.warnings)} warnings)"


def format_table(a: Analysis) -> str:
    """Human-readable summary for the terminal."""
    lines = _header(a)
    for name, res in a.results.items():
        lines += [
            "",
            f"{name}: {TITLES[name]}  ({len(res.used_ids)} runs)",
            f"  {'':<26}{'value':>11}{'lo':>11}{'hi':>11}{'se':>11}",
        ]
        for label, e in _rows(res):
            v, lo, hi, se = _cells(e)
            lines.append(f"  {label:<26}{v:>11}{lo:>11}{hi:>11}{se:>11}")
        for p in res.predictions:
            e = p.estimate
            band = f"[{fmt(e.lo)}, {fmt(e.hi)}]" if identified(e) else "(not identified)"
            lines.append(f"  predict {_point(p.inputs)} {p.quantity}: {fmt(e.value)} {band}")
        lines += [f"  {line}" for line in _backtest_lines(res)]
        for label, params in res.variants.items():
            shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
            lines.append(f"  {label}: {shown}")
        lines += [f"  note: {n}" for n in res.notes]
    for law, why in a.skipped.items():
        lines.append(f"\nskipped {law}: {why}")
    if len(a.data.excluded):
        lines.append(f"\nexcluded runs ({len(a.data.excluded)}):")
        lines += [f"  {r.id}: {r.reason}" for r in a.data.excluded.itertuples()][:50]
    lines.append("")
    lines += [f"WARNING {w}" for w in a.warnings]
    lines += [f"set aside (no reported number comes from it): {w}" for w in a.set_aside]
    lines += precision_lines(a)
    lines.append(_verdict(a))
    return "\n".join(lines)


def _bt_json(bt: BacktestResult | FrontierBacktest) -> dict:
    if isinstance(bt, FrontierBacktest):
        return {
            "key": "C",
            "cutoff": bt.cutoff,
            "n_train": bt.n_train,
            "n_holdout": bt.n_holdout,
            "errors": {
                q: {"mean_abs_rel_error": m, "max_abs_rel_error": x, "bias": b}
                for q, (m, x, b) in bt.errors.items()
            },
            "exponents": bt.exponents,
        }
    return {
        "key": bt.key,
        "cutoff": bt.cutoff,
        "n_train": bt.n_train,
        "n_holdout": bt.n_holdout,
        "mean_abs_rel_error": bt.mean_abs_rel_error,
        "max_abs_rel_error": bt.max_abs_rel_error,
        "bias": bt.bias,
        "exponents": bt.exponents,
    }


def to_json(a: Analysis) -> dict:
    """Every parameter, interval, prediction and warning as plain JSON types."""
    d = a.data
    out: dict = {
        "source": d.source,
        "metric": d.metric,
        "mode": d.mode,
        "columns": d.columns,
        "c_definition": d.c_source,
        "compute_model": {
            "log_k": d.compute.log_k,
            "kappa": d.compute.kappa,
            "k_inf": d.compute.k_inf,
        },
        "provenance": provenance(d),
        N_POINTS: len(d.points),
        "excluded": [{"id": str(r.id), "reason": r.reason} for r in d.excluded.itertuples()],
        "bootstrap": a.config.bootstrap.model_dump(include={"n_resamples", "seed", "level"}),
    }
    for name, res in a.results.items():
        section: dict = {k: e.as_dict() for k, e in res.estimates.items()}
        for k, e in res.estimates.items():
            section[k]["identified"] = identified(e)
        if "tokens_per_param" in section:
            section["tokens_per_param"]["C"] = res.reference_c
        if name in ("power", "compute"):
            section["x"] = res.fit.x
        if hasattr(res.fit, "objective"):
            section["objective"] = res.fit.objective
        section[N_POINTS] = (
            len(res.fit.points) if name in ("envelope", "isoflop") else res.fit.n_points
        )
        if "sigma" in getattr(res.backtest, "_fields", ()):
            section["held_out_outside_95"] = _coverage(res)
        section[RUNS] = list(res.used_ids)
        section["notes"] = list(res.notes)
        section[PREDICTIONS] = [
            {**p.inputs, QUANTITY: p.quantity, **p.estimate.as_dict()} for p in res.predictions
        ]
        if res.backtest is not None:
            section["backtest"] = _bt_json(res.backtest)
        section["rolling_backtest"] = [_bt_json(r) for r in res.rolling]
        section["leave_one_budget_out"] = [_bt_json(r) for r in res.leave_one_out]
        section["variants"] = res.variants
        out[name] = section
    out["agreement"] = [
        {"quantity": q, "law": n, "value": v, "lo": lo, "hi": hi}
        for q, n, v, lo, hi in agreement_table(a)
    ]
    out[SKIPPED] = dict(a.skipped)
    out[WARNINGS] = list(a.warnings)
    out[SET_ASIDE] = list(a.set_aside)
    out[TRUSTED] = a.trusted
    out.update(verdict_json(a))
    return _plain(out)


def _coverage(res: LawResult) -> dict:
    """Held-out points outside their refit's 95 % interval, over all three backtests."""
    from analysis.checks.calibration import miscoverage

    outside, counted = miscoverage([res.backtest, *res.rolling, *res.leave_one_out])
    return {"outside": outside, "counted": counted}


def _plain(obj: object) -> object:
    """numpy scalars -> Python numbers, NaN/inf -> None, so json.dumps writes valid JSON."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _provenance_lines(a: Analysis) -> list[str]:
    p = provenance(a.data)
    versions = ", ".join(f"{k} {v}" for k, v in p["versions"].items())
    units = "; ".join(f"{k}: {v}" for k, v in p["units"].items())
    lines = []
    if p["sweep"]:
        lines.append(
            f"sweep: {p['sweep']}" + (f" ({p['description']})" if p["description"] else "")
        )
    if p["spec_sha256"]:
        lines.append(f"spec sha256: {p['spec_sha256']}")
    lines += [f"product commit: {p['commit']}; {versions}", f"date: {p['date']}", f"units: {units}"]
    return lines


def to_markdown(a: Analysis, plots: list[Path] | None = None) -> str:
    """A report that embeds the plots (paths relative to the report's folder)."""
    lines = ["# Scaling-law fit", ""] + [f"- {h}" for h in _header(a) + _provenance_lines(a)]
    verdict = _verdict(a).replace("trust: ", "**Trust: ") + ".**"
    lines += ["", verdict, ""] + [f"- {w}" for w in a.warnings]
    lines += [f"- set aside (no reported number comes from it): {w}" for w in a.set_aside]
    lines += precision_markdown(a)
    agree = agreement_table(a)
    if agree:
        lines += ["", "## Agreement across approaches", "", "| quantity | law | value | lo | hi |"]
        lines.append("|---|---|---|---|---|")
        lines += [f"| {q} | {n} | {fmt(v)} | {fmt(lo)} | {fmt(hi)} |" for q, n, v, lo, hi in agree]
    for name, res in a.results.items():
        lines += [
            "",
            f"## {name}: {TITLES[name]}",
            "",
            f"Fitted to {len(res.used_ids)} runs"
            + (f": {', '.join(res.used_ids[:40])}" if len(res.used_ids) <= 40 else "."),
            "",
            "| | value | lo | hi | se |",
            "|---|---|---|---|---|",
        ]
        for label, e in _rows(res):
            lines.append(f"| {label} | " + " | ".join(_cells(e)) + " |")
        if res.predictions:
            lines += ["", "| prediction | quantity | value | lo | hi |", "|---|---|---|---|---|"]
            for p in res.predictions:
                e = p.estimate
                lo, hi = (fmt(e.lo), fmt(e.hi)) if identified(e) else ("not identified", "")
                lines.append(
                    f"| {_point(p.inputs)} | {p.quantity} | {fmt(e.value)} | {lo} | {hi} |"
                )
        bts = _backtest_lines(res)
        if bts:
            lines += [""] + [f"- {line[0].upper() + line[1:]}." for line in bts]
        for label, params in res.variants.items():
            shown = ", ".join(f"{k}={v:.4g}" for k, v in params.items())
            lines += ["", f"{label[0].upper() + label[1:]}: {shown}."]
        if res.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in res.notes]
    if a.skipped:
        lines += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in a.skipped.items()]
    if len(a.data.excluded):
        lines += ["", "## Excluded runs", "", "| run | reason |", "|---|---|"]
        lines += [f"| {r.id} | {r.reason} |" for r in a.data.excluded.itertuples()]
    if plots:
        lines += ["", "## Plots", ""] + [
            f"![{p.stem}]({p.name})" for p in plots if p.suffix == ".png"
        ]
    return "\n".join(lines) + "\n"
