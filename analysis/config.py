"""What an analysis fits and how: the one typed config ``run_analysis`` takes.

Kept apart from the fitting code so every law module and the CLI read the same settings.

    cfg = AnalysisConfig(laws=("chinchilla",), predict=({"C": 1e22},))
    cfg = AnalysisConfig(bootstrap=BootstrapConfig(n_resamples=200, workers=2))
    cfg.laws, cfg.bootstrap.level
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from analysis.checks.backtest import holdout_count
from analysis.checks.precision import PrecisionConfig
from analysis.checks.trust import TrustConfig
from analysis.fit.bootstrap import BootstrapConfig
from analysis.fit.power_sums import FitConfig
from analysis.laws.frontier import FrontierConfig
from contract.config import FROZEN
from contract.fit_settings import SweepFitSettings

LawName = Literal["power", "chinchilla", "frontier", "minima", "compute"]
LAWS: tuple[str, ...] = ("power", "chinchilla", "frontier", "minima", "compute")
"""power: L(X); chinchilla: L(N, D); frontier: Approaches 1 and 2; minima: the loss at each
IsoFLOP minimum, L*(C) with a floor; compute: L(C) with a floor on the compute frontier."""


class AnalysisConfig(BaseModel):
    """What to fit and how."""

    model_config = FROZEN

    laws: tuple[LawName, ...] | None = None
    """Laws to fit; None: every law the data's design supports. A law the data cannot support
    is skipped with the reason; one asked for by name is fitted wherever it can be."""
    x: Literal["N", "D", "C"] = "N"
    """Variable of the single-variable power law (parameters, tokens or FLOPs)."""
    predict: tuple[dict[str, float], ...] = ()
    """Points to extrapolate to, e.g. {"N": 1e9, "D": 2e10} or {"C": 1e24} (counts, FLOPs)."""
    holdout: float | None = None
    """Backtest size: K largest runs (>= 1), a fraction (< 1), 0 for none, None for automatic."""
    approach3_min_tokens_per_param: float | None = None
    """Approach 3 (L(N, D)) fits only the points trained on at least this many tokens per
    parameter; None (the sweep's own setting, else every point) or 0 fits every point. Its form misses heavily under-trained points (a WSD run's
    early cooldown branches, Chinchilla's largest models at the smallest budgets): the
    lack-of-fit check finds the pattern there, and it tilts the exponents. The points left out
    are counted in a note; the other laws still fit them."""
    compute_floor: float | None = None
    """L_inf of the compute law L(C) = L_inf + A C^-alpha; None fits it (loss units)."""
    fit: FitConfig = Field(default_factory=FitConfig)
    """Robust loss, optimiser tolerances and start grid of the power-law and joint fits."""
    bootstrap: BootstrapConfig = Field(default_factory=BootstrapConfig)
    """Resamples, seed, workers and coverage of every interval."""
    frontier: FrontierConfig = Field(default_factory=FrontierConfig)
    """Budget grouping and parabola window of Approaches 1 and 2."""
    trust: TrustConfig = Field(default_factory=TrustConfig)
    """Thresholds of the warnings that decide ``Analysis.trusted``."""
    precision: PrecisionConfig = Field(default_factory=PrecisionConfig)
    """Grade boundaries of the stated precision (never a warning)."""

    @model_validator(mode="after")
    def _check(self) -> AnalysisConfig:
        if self.holdout is not None:
            holdout_count(100, self.holdout)  # raises a ValueError naming --holdout-largest
        for point in self.predict:
            if not point or any(k not in ("N", "D", "C") or not v > 0 for k, v in point.items()):
                raise ValueError(f"predict: {point} must map N, D or C to positive numbers")
        floor = self.approach3_min_tokens_per_param
        if floor is not None and not floor >= 0:
            raise ValueError(f"approach3_min_tokens_per_param must be >= 0, got {floor}")
        if self.compute_floor is not None and not self.compute_floor > 0:
            raise ValueError(f"compute_floor must be > 0, got {self.compute_floor}")
        return self

    def with_sweep_settings(self, settings: SweepFitSettings) -> AnalysisConfig:
        """This config with every setting it leaves unset taken from the sweep's own
        (`analysis:` in its YAML): a flag given to the fit command wins."""
        unset = {
            k: v
            for k, v in settings.model_dump().items()
            if v is not None and getattr(self, k) is None
        }
        return self.model_copy(update=unset) if unset else self
