"""The compute axis of a sweep: training-FLOP budgets x model sizes -> trials with token budgets.

A `compute:` section plans in FLOPs, as IsoFLOP studies do: every budget x size gets the tokens
that spend the budget by the one definition of training compute (`contract.compute`), rounded
to whole optimizer steps. A combination that cannot hit its budget within `tolerance`, or
trains for fewer than `min_steps`, is left out with a note; one that needs more tokens than the
trial's data holds is an error unless `repeat_data` allows it (the table then records epochs).

    compute = ComputeConfig(budgets=[1e11, 1e12], sizes={"auto": {"per_budget": 5}})
    points, notes = expand(spec, assignment={}, train_tokens=lambda cfg: cfg.train_size())
    points[0]["budget"], points[0]["trainer.max_tokens"]   # 1e11, 1_196_032
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, field_validator

from contract.compute import tokens_for_budget, training_flops
from contract.config import FROZEN
from contract.results import BUDGET
from models.presets import canonical_name
from sweeps.errors import SpecError

if TYPE_CHECKING:
    from sweeps.spec.sweep_spec import SweepSpec

SIZE_KEYS = ("model.size", "model.params")
"""Trial-config keys a compute sweep sets per size (a preset name or a parameter count)."""
TOKEN_KEYS = ("trainer.max_tokens", "trainer.epochs")
"""Trial-config keys a compute sweep sets from each budget."""
COMPUTE_KEYS = (BUDGET, *SIZE_KEYS, *TOKEN_KEYS)
RECENTRE_NOTE = (
    "compute.recentre: adaptive; budgets run smallest first, and the sizes of each budget not "
    "yet started are re-centred on the N* fitted to every finished point; this is the initial "
    "plan"
)


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


def check(spec: SweepSpec) -> None:
    """Refuse what a compute section cannot compose with, naming the key (load time)."""
    if spec.compute is None:
        return
    where = spec.source
    if spec.is_rl:
        raise SpecError(f"{where}: compute: budgets apply to token-trained tasks, not RL")
    if spec.search.algorithm == "optuna":
        raise SpecError(f"{where}: compute: needs search.algorithm grid or random, not optuna")
    for key in (*SIZE_KEYS, *TOKEN_KEYS):
        if key in spec.axes:
            raise SpecError(f"{where}: {key}: the compute section sets it; remove the axis")
    trainer_set = spec.base.trainer.model_fields_set
    for key in ("max_tokens", "epochs"):
        if key in trainer_set:
            raise SpecError(
                f"{where}: trainer.{key}: a compute sweep derives it from each budget; remove it"
            )
    extra = [b for b in spec.compute.sizes_by_budget if b not in spec.compute.budgets]
    if extra:
        raise SpecError(
            f"{where}: compute.sizes_by_budget: {extra[0]:g} is not one of compute.budgets"
        )
    if spec.compute.recentre and spec.compute.auto is None:
        raise SpecError(
            f"{where}: compute.recentre: needs sizes: {{auto: {{...}}}} (it keeps their "
            "per_budget and places them per budget)"
        )
    model = spec.base.model
    sizes = spec.compute.sizes
    listed = [*([] if spec.compute.auto else sizes), *chain(*spec.compute.sizes_by_budget.values())]
    by_count = spec.compute.auto is not None or any(not isinstance(s, str) for s in listed)
    if by_count and "size" in model.model_fields_set:
        raise SpecError(f"{where}: model.size: compute.sizes sets the sizes; remove model.size")


def _size_assignment(size: str | float) -> dict[str, Any]:
    return {"model.size": size} if isinstance(size, str) else {"model.params": float(size)}


def _forward_flops(spec: SweepSpec, point: dict[str, Any]) -> tuple[Any, int]:
    cfg = spec.trial_config(point)
    return cfg, cfg.counts()[2]  # what the trainer will count


def auto_sizes(spec: SweepSpec, assignment: dict[str, Any], budget: float) -> list[float]:
    """`per_budget` parameter counts, evenly spaced in log N from the size that would see
    `hi` tokens per parameter at `budget` to the one that would see `lo`.

    Tokens per parameter fall as N grows at a fixed budget, so each end is found by bisection
    on log N, with D from the real forward cost (attention and output layer included).
    """
    auto = spec.compute.auto
    lo, hi = auto.tokens_per_param

    def ratio(n: float) -> float:
        cfg, fwd = _forward_flops(spec, {**assignment, "model.params": n})
        return tokens_for_budget(budget, fwd) / cfg.model_config_resolved().num_params

    def solve(target: float) -> float:
        a, b = math.log(_min_params()), math.log(1e12)
        for _ in range(48):
            mid = (a + b) / 2
            a, b = (mid, b) if ratio(math.exp(mid)) > target else (a, mid)
        return math.exp((a + b) / 2)

    small, large = solve(hi), solve(lo)
    step = (math.log(large) - math.log(small)) / (auto.per_budget - 1)
    return [float(f"{math.exp(math.log(small) + i * step):.3g}") for i in range(auto.per_budget)]


def _min_params() -> float:
    from models.shapes import MIN_PARAMS

    return float(MIN_PARAMS)


def expand(
    spec: SweepSpec,
    assignment: dict[str, Any],
    train_tokens: Callable[[Any], int],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The trial assignments of every budget x size at one point of the other axes, and notes
    on the combinations left out. Raises SpecError when a trial needs more tokens than its
    data holds and `repeat_data` is off."""
    compute = spec.compute
    points: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: set[tuple[float, Any]] = set()
    if compute.recentre:
        notes.append(RECENTRE_NOTE)
    for budget in compute.budgets:
        sizes = compute.sizes_at(budget) or auto_sizes(spec, assignment, budget)
        for size in sizes:
            sized = {**assignment, **_size_assignment(size)}
            cfg, fwd = _forward_flops(spec, sized)
            model = cfg.model_config_resolved()
            label = cfg.model.label
            if (budget, model) in seen:
                notes.append(f"C={budget:.3g}: {label} has the shape of another size; run once")
                continue
            seen.add((budget, model))
            per_step = cfg.tokens_per_step()
            steps = round(tokens_for_budget(budget, fwd) / per_step)
            if steps < compute.min_steps:
                notes.append(
                    f"left out C={budget:.3g} x {label}: {steps} steps < compute.min_steps "
                    f"({compute.min_steps}); a smaller size or a larger budget fits"
                )
                continue
            tokens = steps * per_step
            miss = training_flops(fwd, tokens) / budget - 1
            if abs(miss) > compute.tolerance:
                notes.append(
                    f"left out C={budget:.3g} x {label}: whole steps of {per_step} tokens miss "
                    f"the budget by {miss:+.1%} > compute.tolerance {compute.tolerance:g}"
                )
                continue
            point = {**sized, "trainer.max_tokens": tokens, BUDGET: budget}
            held = train_tokens(cfg)
            if tokens > held:
                if not compute.repeat_data:
                    fraction = cfg.data.fraction
                    raise SpecError(
                        f"{spec.source}: compute.budgets: C={budget:.3g} on {label} needs "
                        f"{tokens:,} tokens but data.fraction={fraction:g} holds {held:,}; "
                        "lower the budget, raise data.fraction or set compute.repeat_data: true"
                    )
                # Rounded up, so epochs x data never caps the token budget below `tokens`.
                point["trainer.epochs"] = math.ceil(tokens / held * 1e4) / 1e4
            points.append(point)
    return points, notes
