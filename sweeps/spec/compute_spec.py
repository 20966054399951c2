"""The `compute:` section of a sweep YAML as typed data, and its load-time checks.

A compute sweep plans in FLOPs (IsoFLOP studies): budgets x model sizes, every trial's tokens
derived from its budget. This module is what the YAML may say and what it may not combine
with (`sweeps.spec.checks.check_compute`); turning it into trials is `sweeps.plan.compute`'s
job.

    compute = ComputeConfig(budgets=[1e11, 1e12], sizes={"auto": {"per_budget": 5}})
    compute.auto.per_budget          # 5
    compute.sizes_at(1e11)           # None: auto sizes, placed per budget by the planner
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, field_validator

from contract.config import FROZEN
from models.presets import canonical_name

PRESET_KEY = "model.size"
"""Trial-config path of a size given as a preset name (trials.csv's column of the same name,
contract.results.MODEL_SIZE, shows the label of whatever size a trial ran)."""
PARAMS_KEY = "model.params"
"""Trial-config path of a size given as a parameter count."""
SIZE_KEYS = (PRESET_KEY, PARAMS_KEY)
"""Trial-config keys a compute sweep sets per size (a preset name or a parameter count)."""
EPOCHS_KEY = "trainer.epochs"
"""Trial-config path of the passes over the data a budget needs (only with compute.repeat_data)."""
TOKEN_KEYS = ("trainer.max_tokens", EPOCHS_KEY)
"""Trial-config keys a compute sweep sets from each budget."""


class AutoSizes(BaseModel):
    """Sizes chosen per budget, evenly spaced in log N between two tokens-per-parameter ratios."""

    model_config = FROZEN

    per_budget: int = Field(6, ge=2)
    """Sizes per budget (the IsoFLOP parabola needs at least 3; 5-7 fit well)."""
    tokens_per_param: tuple[float, float] = (2.0, 300.0)
    """(lo, hi) D/N of the largest and the smallest size. The loss minimum of small models sits
    at 20-60 tokens per parameter, so the default range brackets it with room on both sides."""

    @field_validator("tokens_per_param")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not 0 < lo < hi:
            raise ValueError(f"must be [lo, hi] with 0 < lo < hi, got {list(value)}")
        return value


class AutoSizing(BaseModel):
    """``sizes: {auto: {...}}``."""

    model_config = FROZEN

    auto: AutoSizes = AutoSizes()


class ComputeConfig(BaseModel):
    """The compute axis: which FLOP budgets, which sizes per budget, how exactly."""

    model_config = FROZEN

    budgets: list[float] = Field(min_length=1)
    """Training-FLOP budgets (3 x forward FLOPs per token x tokens, as in the tables' `flops`)."""
    sizes: list[str | float] | AutoSizing = AutoSizing()
    """Preset names and/or parameter counts run at every budget, or {auto: {...}}."""
    tolerance: float = Field(0.02, gt=0, lt=1)
    """Largest relative miss of a trial's planned FLOPs from its budget (whole steps)."""
    min_steps: int = Field(20, gt=0)
    """Combinations with fewer optimizer steps are left out (too short to be a point)."""
    repeat_data: bool = False
    """Allow a trial more tokens than its data holds (several epochs); otherwise an error."""
    sizes_by_budget: dict[float, list[str | float]] = {}
    """Sizes of particular budgets, in place of `sizes` for those budgets: what `recentre`
    placed (the runner records it in the sweep folder's spec.yaml), or a proposal's runs."""
    recentre: bool = False
    """Run the budgets smallest first and, as each finishes, place the sizes of every budget
    not yet started around the N* that a fit over all finished points predicts for it
    (sweeps.plan.recentre); needs auto sizes, whose `per_budget` it keeps."""

    @field_validator("budgets")
    @classmethod
    def _positive(cls, budgets: list[float]) -> list[float]:
        bad = [b for b in budgets if not (b > 0 and math.isfinite(b))]
        if bad:
            raise ValueError(f"budgets must be positive FLOP counts, got {bad[0]!r}")
        return sorted(set(budgets))

    @field_validator("sizes", mode="before")
    @classmethod
    def _numbers_from_yaml(cls, sizes: Any) -> Any:
        # YAML 1.1 reads 3.0e5 (no exponent sign) as a string: accept it as the number it is.
        if isinstance(sizes, list):
            return [_as_number(s) for s in sizes]
        return sizes

    @field_validator("sizes")
    @classmethod
    def _known_sizes(cls, sizes: list[str | float] | AutoSizing) -> list[str | float] | AutoSizing:
        if isinstance(sizes, list):
            if not sizes:
                raise ValueError("list at least one size")
            for size in sizes:
                if isinstance(size, str):
                    canonical_name(size)
                elif size <= 0:
                    raise ValueError(f"parameter counts must be > 0, got {size}")
        return sizes

    @field_validator("sizes_by_budget", mode="before")
    @classmethod
    def _placed_numbers(cls, placed: Any) -> Any:
        if isinstance(placed, dict):
            return {
                _as_number(k): [_as_number(s) for s in v] if isinstance(v, list) else v
                for k, v in placed.items()
            }
        return placed

    @field_validator("sizes_by_budget")
    @classmethod
    def _placed_sizes(cls, placed: dict[float, list[str | float]]) -> dict:
        for sizes in placed.values():
            cls._known_sizes(sizes)
        return placed

    @property
    def auto(self) -> AutoSizes | None:
        return self.sizes.auto if isinstance(self.sizes, AutoSizing) else None

    def sizes_at(self, budget: float) -> list[str | float] | None:
        """The sizes listed for `budget` (None: auto sizes)."""
        if budget in self.sizes_by_budget:
            return self.sizes_by_budget[budget]
        return None if self.auto else self.sizes


def _as_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
