"""Render an ``Analysis``: a terminal table, a JSON-ready dict and a Markdown report.

JSON keeps every fitted parameter under its plain name (``E``, ``A``, ``B``, ``alpha``, ``beta``,
``a``, ``b``) inside the law's section, each as {value, lo, hi, se}; predictions carry their
inputs and interval the same way.

    print(format_table(result))
    json.dump(to_json(result), open("fit.json", "w"), indent=2)
    Path("out/report.md").write_text(to_markdown(result, plots=["power_N.png"]))
"""

from __future__ import annotations

import math
from pathlib import Path

from analysis.laws import Estimate
from analysis.pipeline import Analysis, LawResult

TITLES = {
    "power": "power law  L(X) = E + A X^-alpha",
    "chinchilla": "Chinchilla Approach 3  L(N, D) = E + A/N^alpha + B/D^beta",
    "envelope": "Approach 1 (envelope)  N_opt = k_N C^a, D_opt = k_D C^b",
    "isoflop": "Approach 2 (IsoFLOP minima)  N_opt = k_N C^a, D_opt = k_D C^b",
}
HIDDEN = {"log_kn", "log_kd"}
"""Frontier prefactors are reported through predictions; their logs are noise to a reader."""


def fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.4g}"


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
    return [
        f"source: {d.source}  ({len(d.points)} runs fitted, {len(d.excluded)} excluded)",
        f"metric: {d.metric} ({d.mode});  columns: {cols}",
        f"intervals: {boot.level:.0%} bootstrap percentile, {boot.n_resamples} resamples, "
        f"seed {boot.seed}",
    ]


def _backtest_line(res: LawResult) -> str | None:
    bt = res.backtest
    if bt is None:
        return None
    return (
        f"backtest: refit without the {bt.n_holdout} largest-{bt.key} runs ({bt.key} >= "
        f"{bt.cutoff:.3g}): mean |error| {bt.mean_abs_rel_error:.2%}, max "
        f"{bt.max_abs_rel_error:.2%}, bias {bt.bias:+.2%}"
    )


def format_table(a: Analysis) -> str:
    """Human-readable summary for the terminal."""
    lines = _header(a)
    for name, res in a.results.items():
        lines += [
            "",
            f"{name}: {TITLES[name]}",
            f"  {'':<26}{'value':>11}{'lo':>11}{'hi':>11}{'se':>11}",
        ]
        for label, e in _rows(res):
            lines.append(
                f"  {label:<26}{fmt(e.value):>11}{fmt(e.lo):>11}{fmt(e.hi):>11}{fmt(e.se):>11}"
            )
        for p in res.predictions:
            e = p.estimate
            lines.append(
                f"  predict {_point(p.inputs)} {p.quantity}: {fmt(e.value)} [{fmt(e.lo)}, {fmt(e.hi)}]"
            )
        line = _backtest_line(res)
        if line:
            lines.append(f"  {line}")
    for law, why in a.skipped.items():
        lines.append(f"\nskipped {law}: {why}")
    if len(a.data.excluded):
        lines.append(f"\nexcluded runs ({len(a.data.excluded)}):")
        lines += [f"  {r.id}: {r.reason}" for r in a.data.excluded.itertuples()][:50]
    lines.append("")
    lines += [f"WARNING {w}" for w in a.warnings]
    lines.append("trust: OK" if a.trusted else f"trust: CAUTION ({len(a.warnings)} warnings)")
    return "\n".join(lines)


def to_json(a: Analysis) -> dict:
    """Every parameter, interval, prediction and warning as plain JSON types."""
    d = a.data
    out: dict = {
        "source": d.source,
        "metric": d.metric,
        "mode": d.mode,
        "columns": d.columns,
        "n_points": len(d.points),
        "excluded": [{"id": str(r.id), "reason": r.reason} for r in d.excluded.itertuples()],
        "bootstrap": a.config.bootstrap.model_dump(include={"n_resamples", "seed", "level"}),
    }
    for name, res in a.results.items():
        section: dict = {k: e.as_dict() for k, e in res.estimates.items()}
        if "tokens_per_param" in section:
            section["tokens_per_param"]["C"] = res.reference_c
        if name == "power":
            section["x"] = res.fit.x
        if hasattr(res.fit, "objective"):
            section["objective"] = res.fit.objective
        section["n_points"] = (
            len(res.fit.points) if name in ("envelope", "isoflop") else res.fit.n_points
        )
        section["predictions"] = [
            {**p.inputs, "quantity": p.quantity, **p.estimate.as_dict()} for p in res.predictions
        ]
        if res.backtest is not None:
            bt = res.backtest
            section["backtest"] = {
                "key": bt.key,
                "cutoff": bt.cutoff,
                "n_train": bt.n_train,
                "n_holdout": bt.n_holdout,
                "mean_abs_rel_error": bt.mean_abs_rel_error,
                "max_abs_rel_error": bt.max_abs_rel_error,
                "bias": bt.bias,
            }
        out[name] = section
    out["skipped"] = dict(a.skipped)
    out["warnings"] = list(a.warnings)
    out["trusted"] = a.trusted
    return _plain(out)


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


def to_markdown(a: Analysis, plots: list[Path] | None = None) -> str:
    """A report that embeds the plots (paths relative to the report's folder)."""
    lines = ["# Scaling-law fit", ""] + [f"- {h}" for h in _header(a)]
    verdict = "**Trust: OK.**" if a.trusted else f"**Trust: CAUTION ({len(a.warnings)} warnings).**"
    lines += ["", verdict, ""] + [f"- {w}" for w in a.warnings]
    for name, res in a.results.items():
        lines += [
            "",
            f"## {name}: {TITLES[name]}",
            "",
            "| | value | lo | hi | se |",
            "|---|---|---|---|---|",
        ]
        for label, e in _rows(res):
            lines.append(f"| {label} | {fmt(e.value)} | {fmt(e.lo)} | {fmt(e.hi)} | {fmt(e.se)} |")
        if res.predictions:
            lines += ["", "| prediction | quantity | value | lo | hi |", "|---|---|---|---|---|"]
            for p in res.predictions:
                e = p.estimate
                lines.append(
                    f"| {_point(p.inputs)} | {p.quantity} | {fmt(e.value)} | {fmt(e.lo)} | {fmt(e.hi)} |"
                )
        line = _backtest_line(res)
        if line:
            lines += ["", line[0].upper() + line[1:] + "."]
    if a.skipped:
        lines += ["", "## Skipped", ""] + [f"- {k}: {v}" for k, v in a.skipped.items()]
    if len(a.data.excluded):
        lines += ["", "## Excluded runs", "", "| run | reason |", "|---|---|"]
        lines += [f"| {r.id} | {r.reason} |" for r in a.data.excluded.itertuples()]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"
