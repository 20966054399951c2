"""Precision, stated and graded: never a warning unless the user asks with ``--require``.

An interval's width says how much a sweep pins a quantity down; it is a property of the design
and its noise, not a sign that the fit is wrong (1.5 decades of budgets at 1 % noise give an
exponent interval about 0.2 wide however often the runs are repeated). So widths are graded,
shown in the terminal, ``report.md`` and the JSON, and turn into pass/fail only through
``--require "a<=0.1,loss<=5%"``, for pipelines that must not continue on an imprecise fit.

    rows = precision_rows(analysis)                       # a, b, N*, D*, loss at the target
    [(r.quantity, r.grade) for r in rows]                 # ("a", "medium"), ...
    unmet(rows, parse_require("a<=0.1,loss<=5%"))         # [] when every requirement holds
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from pydantic import BaseModel

from contract.config import FROZEN

GRADES = ("high", "medium", "low", "not constrained")


class PrecisionConfig(BaseModel):
    """Grade boundaries: a width under the first is high, the second medium, the third low."""

    model_config = FROZEN

    exponent_widths: tuple[float, float, float] = (0.05, 0.1, 0.2)
    """95 % interval width hi - lo of a or b (dimensionless)."""
    loss_widths: tuple[float, float, float] = (0.02, 0.05, 0.1)
    """95 % interval width (hi - lo) / value of the predicted loss (fraction)."""
    ratio_widths: tuple[float, float, float] = (1.25, 1.5, 2.0)
    """95 % interval hi / lo of N* or D* (ratio; 2x is one step of a typical size grid)."""


class PrecisionRow(NamedTuple):
    """One graded quantity: which law gave it, its 95 % interval, width and grade."""

    quantity: str
    """a, b, N*, D* or loss (the latter three at ``target``)."""
    law: str
    value: float
    lo: float
    hi: float
    width: float
    """hi - lo for a and b; (hi - lo) / value for loss; hi / lo for N* and D*."""
    grade: str
    target: float = math.nan
    """FLOPs the quantity is given at (NaN for the exponents)."""

    def width_text(self) -> str:
        if not math.isfinite(self.width):
            return "-"
        if self.quantity == "loss":
            return f"{self.width:.1%}"
        return f"{self.width:.2f}x" if self.quantity in ("N*", "D*") else f"{self.width:.3f}"


def kind(quantity: str) -> str:
    return {"a": "exponent", "b": "exponent", "loss": "loss"}.get(quantity, "ratio")


def width(quantity: str, value: float, lo: float, hi: float) -> float:
    """The width a grade is given on (see ``PrecisionRow.width``); NaN without an interval."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return math.nan
    if kind(quantity) == "exponent":
        return hi - lo
    if kind(quantity) == "loss":
        return (hi - lo) / value if value > 0 else math.nan
    return hi / lo if lo > 0 else math.inf


def grade(quantity: str, w: float, cfg: PrecisionConfig | None = None) -> str:
    """high / medium / low / not constrained for a width ``w`` of ``quantity``."""
    cfg = cfg or PrecisionConfig()
    edges = {
        "exponent": cfg.exponent_widths,
        "loss": cfg.loss_widths,
        "ratio": cfg.ratio_widths,
    }[kind(quantity)]
    if not math.isfinite(w):
        return "not constrained"
    return next((g for g, edge in zip(GRADES, edges, strict=False) if w < edge), GRADES[-1])


def row(quantity: str, law: str, est, target: float = math.nan, cfg=None) -> PrecisionRow:
    """A graded row from anything with value, lo, hi (an Estimate or the forecast's Interval)."""
    lo, hi = (
        getattr(est, "lo", getattr(est, "lo95", math.nan)),
        getattr(est, "hi", getattr(est, "hi95", math.nan)),
    )
    w = width(quantity, est.value, lo, hi)
    return PrecisionRow(quantity, law, float(est.value), lo, hi, w, grade(quantity, w, cfg), target)


_TERM = re.compile(r"^\s*(a|b|N\*|D\*|loss)\s*<=\s*([0-9.eE+-]+)\s*(%|x)?\s*$")


class Requirement(NamedTuple):
    quantity: str
    limit: float
    """On the row's width scale: hi - lo, a fraction for loss, hi / lo for N* and D*."""
    text: str


def parse_require(text: str) -> list[Requirement]:
    """``"a<=0.1,loss<=5%,N*<=2x"`` -> requirements; a bad term is a one-line ValueError."""
    out = []
    for term in (t for t in text.split(",") if t.strip()):
        match = _TERM.match(term)
        if not match:
            raise ValueError(
                f"--require: {term.strip()!r} is not QUANTITY<=LIMIT with QUANTITY one of a, b, "
                'N*, D*, loss (e.g. "a<=0.1,loss<=5%,N*<=2x")'
            )
        q, raw, unit = match.groups()
        try:
            limit = float(raw)
        except ValueError:
            raise ValueError(f"--require: {raw!r} in {term.strip()!r} is not a number") from None
        if q == "loss" and unit == "%":
            limit /= 100.0
        if not limit > 0:
            raise ValueError(f"--require: the limit in {term.strip()!r} must be > 0")
        out.append(Requirement(q, limit, term.strip()))
    if not out:
        raise ValueError('--require: no requirement given (e.g. "a<=0.1,loss<=5%")')
    return out


def unmet(rows: list[PrecisionRow], reqs: list[Requirement]) -> list[str]:
    """One line per requirement the headline rows do not meet (a missing quantity fails)."""
    by_q = {r.quantity: r for r in rows}
    out = []
    for req in reqs:
        r = by_q.get(req.quantity)
        if r is None:
            out.append(f"{req.text}: {req.quantity} was not estimated")
        elif not (math.isfinite(r.width) and r.width <= req.limit):
            out.append(f"{req.text}: {req.quantity} ({r.law}) interval width is {r.width_text()}")
    return out
