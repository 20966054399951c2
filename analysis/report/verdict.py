"""The verdict's two halves as text: reliability (warnings) and precision (grades), plus which
estimator the forecast's numbers come from and why.

``analysis.report.render`` puts these in the terminal table, ``report.md`` and the JSON.

    print("\\n".join(precision_lines(analysis)))
    lines += precision_markdown(analysis)
    out.update(verdict_json(analysis))
"""

from __future__ import annotations

import math

from analysis.checks.precision import PrecisionRow
from analysis.outcome import Analysis
from contract.fit_outputs import FORECAST_ESTIMATORS, PRECISION

LABELS = {"a": "a", "b": "b", "N*": "N*", "D*": "D*", "loss": "predicted loss"}


def _num(q: str, v: float) -> str:
    if not math.isfinite(v):
        return "-"
    return f"{v:.3f}" if q in ("a", "b") else f"{v:.4g}"


def _where(r: PrecisionRow) -> str:
    return f" @ C={r.target:.3g}" if math.isfinite(r.target) else ""


def precision_lines(a: Analysis) -> list[str]:
    """Terminal lines: one per graded quantity, then the estimators chosen for the forecast."""
    if not a.precision:
        return []
    lines = ["precision (95 % intervals; graded, not warned about):"]
    for r in a.precision:
        label = f"{LABELS[r.quantity]}{_where(r)} ({r.law})"
        lines.append(
            f"  {label:<34}{_num(r.quantity, r.value):>10}  [{_num(r.quantity, r.lo)}, "
            f"{_num(r.quantity, r.hi)}]  width {r.width_text():<8} {r.grade}"
        )
    return lines + choice_lines(a)


def choice_lines(a: Analysis) -> list[str]:
    c = a.choice
    if c is None:
        return []
    out = []
    if c.loss:
        out.append(f"forecast loss from {c.loss_reason}")
    if c.allocation:
        out.append(f"forecast N*, D* from {c.allocation_reason}")
    return out


def precision_markdown(a: Analysis) -> list[str]:
    """The report's precision table and the forecast's estimators, as Markdown lines."""
    if not a.precision:
        return []
    lines = [
        "",
        "## Precision",
        "",
        "95 % intervals of what a forecast states, graded (a, b: width under 0.05 high, 0.1 "
        "medium, 0.2 low; loss: under 2 %, 5 %, 10 %; N*, D*: hi/lo under 1.25, 1.5, 2); a "
        "grade is never a warning unless `--require` asks for it.",
        "",
        "| quantity | law | value | 95 % interval | width | grade |",
        "|---|---|---|---|---|---|",
    ]
    for r in a.precision:
        lines.append(
            f"| {LABELS[r.quantity]}{_where(r)} | {r.law} | {_num(r.quantity, r.value)} | "
            f"{_num(r.quantity, r.lo)} to {_num(r.quantity, r.hi)} | {r.width_text()} | "
            f"{r.grade} |"
        )
    return lines + [""] + [f"- {line[0].upper() + line[1:]}." for line in choice_lines(a)]


def verdict_json(a: Analysis) -> dict:
    """``precision`` (one record per graded quantity) and ``forecast_estimators`` (the choice
    with every candidate's backtest score)."""
    out: dict = {
        PRECISION: [
            {
                "quantity": r.quantity,
                "law": r.law,
                "value": r.value,
                "lo95": r.lo,
                "hi95": r.hi,
                "width": r.width,
                "width_text": r.width_text(),
                "grade": r.grade,
                "target_flops": r.target,
            }
            for r in a.precision
        ]
    }
    c = a.choice
    if c is not None:
        out[FORECAST_ESTIMATORS] = {
            "loss": c.loss,
            "loss_reason": c.loss_reason,
            "allocation": c.allocation,
            "allocation_reason": c.allocation_reason,
            "scores": c.scores,
        }
    return out
