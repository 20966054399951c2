"""One way to assemble a law's result, and its bootstrap draws read by column name.

Every law (power, compute, chinchilla, envelope, isoflop, minima) ends the same way: estimates
from bootstrap draws, predictions, three backtests, warnings, notes and the runs it used. This
module holds that ending once, so a new field of ``LawResult`` is filled in one place, and the
draws are addressed by name, so reordering a law's parameters cannot silently misread a column.

    draws = Draws(to_natural(raw), ("E", "A", "alpha"))
    draws["alpha"], power_curves(draws, C)                  # one column; E + A C^-alpha per draw
    res = law_result("power", fit, draws, est, preds, warns, runs=pts, backtests=Backtests(bt))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.checks.backtest import BacktestResult
from analysis.checks.frontier_backtest import FrontierBacktest
from analysis.fit.bootstrap import summarize
from analysis.laws.forms import Estimate
from analysis.outcome import LawResult, Prediction
from contract.results import RUN_ID


@dataclass(frozen=True)
class Draws:
    """Bootstrap draws (R, p) with the name of each column; R = 0 without a bootstrap."""

    values: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(f"draws of shape {self.values.shape} do not match {self.names}")

    @classmethod
    def of(cls, res: LawResult) -> Draws:
        """A fitted law's draws, by the names it stored them under."""
        return cls(np.asarray(res.samples), tuple(res.sample_names))

    @classmethod
    def applicable(cls, rows: np.ndarray, names: tuple[str, ...]) -> tuple[Draws, np.ndarray]:
        """(draws of the resamples a law applied to, a flag per resample it did not) from a
        bootstrap's rows whose last column flags the resample (1) as not applicable."""
        rows = np.asarray(rows, dtype=float).reshape(-1, len(names) + 1)
        flagged = rows[:, -1] == 1.0
        return cls(rows[~flagged, :-1], names), flagged

    @classmethod
    def empty(cls, names: tuple[str, ...]) -> Draws:
        return cls(np.empty((0, len(names))), names)

    def __getitem__(self, name: str) -> np.ndarray:
        """The column of parameter ``name`` (R,)."""
        return self.values[:, self.names.index(name)]

    def __len__(self) -> int:
        return len(self.values)

    def take(self, names: tuple[str, ...]) -> Draws:
        """The same draws with their columns in the order ``names``."""
        return Draws(self.values[:, [self.names.index(n) for n in names]], names)


class Backtests(NamedTuple):
    """A law's three backtests: leave-largest-out, rolling origin, leave-one-budget-out."""

    largest: BacktestResult | FrontierBacktest | None = None
    rolling: tuple[BacktestResult | FrontierBacktest, ...] = ()
    leave_one_out: tuple[BacktestResult, ...] = ()


def power_curves(draws: Draws, x: np.ndarray | float) -> np.ndarray:
    """E + A x^-alpha per draw: (R,) at a scalar ``x``, (R, G) on a grid of G values."""
    e, a, alpha = draws["E"], draws["A"], draws["alpha"]
    if np.ndim(x) == 0:
        return e + a * x ** (-alpha)
    return e[:, None] + a[:, None] * np.asarray(x)[None] ** (-alpha[:, None])


def chinchilla_curves(draws: Draws, N: float, D: float) -> np.ndarray:
    """E + A N^-alpha + B D^-beta per draw (R,) at one (N, D)."""
    return draws["E"] + draws["A"] * N ** (-draws["alpha"]) + draws["B"] * D ** (-draws["beta"])


def frontier_curves(draws: Draws, C: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(N_opt, D_opt) per draw of Approach 1 or 2: exp(log_kn) C^a and exp(log_kd) C^b;
    (R,) each at a scalar ``C``, (R, G) on a grid."""
    cols = {n: draws[n] if np.ndim(C) == 0 else draws[n][:, None] for n in draws.names}
    c = C if np.ndim(C) == 0 else np.asarray(C)[None]
    return np.exp(cols["log_kn"]) * c ** cols["a"], np.exp(cols["log_kd"]) * c ** cols["b"]


def estimates(draws: Draws, values: dict, level: float) -> dict[str, Estimate]:
    """Estimate per parameter; without a bootstrap (no draws) only the point value."""
    if len(draws) == 0:
        return {n: Estimate(float(values[n])) for n in draws.names}
    return {n: summarize(draws[n], values[n], level) for n in draws.names}


def used_runs(table: pd.DataFrame) -> tuple[str, ...]:
    """The runs a law used, each once as text (points of one run share its run id)."""
    return tuple(dict.fromkeys(map(str, table[RUN_ID] if RUN_ID in table else table["id"])))


def law_result(
    name: str,
    fit,
    draws: Draws,
    est: dict[str, Estimate],
    predictions: list[Prediction],
    warnings: list[str],
    *,
    runs: pd.DataFrame,
    notes: list[str] | tuple[str, ...] = (),
    backtests: Backtests | None = None,
    reference_c: float = math.nan,
    variants: dict[str, dict[str, float]] | None = None,
    points: pd.DataFrame | None = None,
    some_points: bool = False,
) -> LawResult:
    """The ``LawResult`` of law ``name``: ``runs`` is the table the law was fitted to (its run
    ids become ``used_ids``; with ``some_points``, a subset of its runs' points, whose ids
    become ``used_point_ids``), ``reference_c`` the FLOPs of ``est["tokens_per_param"]``."""
    backtests = backtests or Backtests()
    return LawResult(
        name,
        fit,
        est,
        tuple(predictions),
        draws.values,
        draws.names,
        backtests.largest,
        tuple(warnings),
        reference_c,
        used_ids=used_runs(runs),
        used_point_ids=tuple(map(str, runs["id"])) if some_points else None,
        notes=tuple(notes),
        rolling=backtests.rolling,
        variants=variants or {},
        leave_one_out=backtests.leave_one_out,
        points=points,
    )
