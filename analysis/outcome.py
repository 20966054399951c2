"""The typed result of an analysis: one ``LawResult`` per fitted law inside an ``Analysis``.

``analysis.report.render`` renders these and ``analysis.report.plots`` draws them; nothing here fits.

    res = analysis.results["chinchilla"]
    res.estimates["alpha"]            # Estimate(value, lo, hi, se)
    [p for p in res.predictions if p.quantity == "N_opt"], analysis.trusted
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from analysis.checks.backtest import BacktestResult
from analysis.checks.frontier_backtest import FrontierBacktest
from analysis.config import AnalysisConfig
from analysis.laws.forms import ChinchillaFit, Estimate, PowerLawFit
from analysis.laws.frontier import FrontierFit
from analysis.load.sweep_tables import ScalingData

if TYPE_CHECKING:  # the choice is made from LawResults, so it imports this module
    from analysis.checks.precision import PrecisionRow
    from analysis.forecast.choice import Choice


class Prediction(NamedTuple):
    """One extrapolated quantity at user-given inputs."""

    inputs: dict[str, float]
    quantity: str
    """loss, loss_opt, N_opt, D_opt or tokens_per_param."""
    estimate: Estimate


@dataclass(frozen=True)
class LawResult:
    """A fitted law with its intervals, predictions, backtests and warnings."""

    name: str
    fit: PowerLawFit | ChinchillaFit | FrontierFit
    estimates: dict[str, Estimate]
    predictions: tuple[Prediction, ...]
    samples: np.ndarray
    """Bootstrap samples (R, p) of ``sample_names``; R = 0 without a bootstrap."""
    sample_names: tuple[str, ...]
    backtest: BacktestResult | FrontierBacktest | None = None
    warnings: tuple[str, ...] = ()
    reference_c: float = math.nan
    """FLOPs at which ``estimates["tokens_per_param"]`` is given (the largest run's)."""
    used_ids: tuple[str, ...] = ()
    """Runs (ids) the law was fitted to."""
    used_point_ids: tuple[str, ...] | None = None
    """The points (ids) it was fitted to when it left some of its runs' points out (Approach 3
    under ``approach3_min_tokens_per_param``); None: every point of its runs."""
    notes: tuple[str, ...] = ()
    """What the reader should know that is not a warning (dropped budgets, method caveats)."""
    rolling: tuple[BacktestResult | FrontierBacktest, ...] = ()
    """Rolling-origin backtests: fit on the budgets up to k, predict budget k + 1."""
    variants: dict[str, dict[str, float]] = field(default_factory=dict)
    """Point estimates of the same law on a subset (e.g. without under-trained runs)."""
    leave_one_out: tuple[BacktestResult, ...] = ()
    """Leave-one-budget-out backtests: each budget predicted by a refit on all the others."""
    points: pd.DataFrame | None = None
    """The points the law was fitted to when they are not runs (the minima law's vertices)."""


@dataclass(frozen=True)
class Analysis:
    data: ScalingData
    config: AnalysisConfig
    results: dict[str, LawResult]
    skipped: dict[str, str]
    """Law name -> why it was not fitted."""
    warnings: tuple[str, ...]
    choice: Choice | None = None
    """Which estimators the forecast takes its loss and allocation from, and why."""
    precision: tuple[PrecisionRow, ...] = ()
    """The headline quantities' 95 % intervals and grades (a, b, N*, D*, loss at the target)."""
    set_aside: tuple[str, ...] = ()
    """Warnings of a loss-only law the forecast takes no number from (the minima or compute law
    when another estimator was chosen): shown beside the verdict, not counted in it."""

    @property
    def trusted(self) -> bool:
        """True only when something was fitted and no check raised a warning."""
        return bool(self.results) and not self.warnings
