"""The compute axis of a sweep: training-FLOP budgets x model sizes -> trials with token budgets.

A `compute:` section (`sweeps.spec.compute_spec`) plans in FLOPs, as IsoFLOP studies do: every
budget x size gets the tokens that spend the budget by the one definition of training compute
(`contract.compute`), rounded to whole optimizer steps. A combination that cannot hit its
budget within `tolerance`, or trains for fewer than `min_steps`, is left out with a note; one
that needs more tokens than the trial's data holds is an error unless `repeat_data` allows it
(the table then records epochs).

    points, notes = expand(spec, assignment={}, train_tokens=lambda cfg: cfg.train_size())
    points[0].budget, points[0].assignment["trainer.max_tokens"]   # 1e11, 1_196_032
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contract.compute import tokens_for_budget, training_flops
from models.shapes import MIN_PARAMS, gpt_shape
from sweeps.errors import SpecError
from sweeps.spec.compute_spec import (
    EPOCHS_KEY,
    PARAMS_KEY,
    PRESET_KEY,
    SIZE_KEYS,
    TOKEN_KEYS,
)

if TYPE_CHECKING:
    from sweeps.spec.sweep_spec import SweepSpec
    from trainers.config import AnyTrialConfig

COMPUTE_KEYS = (*SIZE_KEYS, *TOKEN_KEYS)
"""Trial-config keys a compute sweep sets (the dry-run shows them as its own columns)."""
RECENTRE_NOTE = (
    "compute.recentre: adaptive; budgets run smallest first, and the sizes of each budget not "
    "yet started are re-centred on the N* fitted to every finished point; this is the initial "
    "plan"
)
LARGEST_PARAMS = 1e12
"""Upper end of the bisection for auto sizes (far beyond any budget a sweep plans)."""
BISECTION_STEPS = 48
"""Halvings of the log-N interval: 48 pin a size to about 1e-13 of its log, far below the
three significant digits a size is rounded to."""


@dataclass(frozen=True)
class PlanPoint:
    """One trial of a plan before it is built: its config values and, in a compute sweep, its
    FLOP budget, which is the trial's IsoFLOP group (a table column), not a config field."""

    assignment: dict[str, Any]
    """Dotted config paths: the axes' values (a compute sweep's size and tokens included)."""
    budget: float | None = None
    """The nominal training-FLOP budget the tokens were derived from; None outside compute."""


def _size_assignment(size: str | float) -> dict[str, Any]:
    return {PRESET_KEY: size} if isinstance(size, str) else {PARAMS_KEY: float(size)}


def _forward_flops(spec: SweepSpec, point: dict[str, Any]) -> tuple[Any, int]:
    cfg = spec.trial_config(point)
    return cfg, cfg.counts()[2]  # what the trainer will count


def size_counts(spec: SweepSpec, assignment: dict[str, Any]) -> Callable[[float], tuple[int, int]]:
    """(N, forward FLOPs per token) of the trial at `assignment` for any `model.params`, from a
    few numbers rather than a validated config per size.

    One trial config is validated (at the middle of the bisection's range, the size the first
    probe asks for, so a config that cannot hold a derived shape fails as it always has); every
    other size swaps the four numbers of its shape (`models.shapes.gpt_shape`) into that
    trial's resolved model, keeps what the YAML overrode, and asks the task for its counts,
    the same arithmetic the trainer's counts run.
    """
    middle = math.exp((math.log(MIN_PARAMS) + math.log(LARGEST_PARAMS)) / 2)
    cfg: AnyTrialConfig = spec.trial_config({**assignment, PARAMS_KEY: middle})
    model, overridden = cfg.model_config_resolved(), cfg.model.overrides

    def counts(params: float) -> tuple[int, int]:
        shape = {k: v for k, v in gpt_shape(params).items() if k not in overridden}
        sized = model.model_copy(update=shape)  # no validation: numbers in, counts out
        return sized.num_params, cfg.task.counts(sized)[2]

    return counts


def auto_sizes(
    spec: SweepSpec, counts: Callable[[float], tuple[int, int]], budget: float
) -> list[float]:
    """`per_budget` parameter counts, evenly spaced in log N from the size that would see
    `hi` tokens per parameter at `budget` to the one that would see `lo`.

    Tokens per parameter fall as N grows at a fixed budget, so each end is found by bisection
    on log N, with D from the real forward cost (attention and output layer included) that
    `counts` (`size_counts`) gives for each probed size.
    """
    auto = spec.compute.auto
    lo, hi = auto.tokens_per_param

    def ratio(n: float) -> float:
        params, fwd = counts(n)
        return tokens_for_budget(budget, fwd) / params

    def solve(target: float) -> float:
        a, b = math.log(MIN_PARAMS), math.log(LARGEST_PARAMS)
        for _ in range(BISECTION_STEPS):
            mid = (a + b) / 2
            a, b = (mid, b) if ratio(math.exp(mid)) > target else (a, mid)
        return math.exp((a + b) / 2)

    small, large = solve(hi), solve(lo)
    step = (math.log(large) - math.log(small)) / (auto.per_budget - 1)
    return [float(f"{math.exp(math.log(small) + i * step):.3g}") for i in range(auto.per_budget)]


def expand(
    spec: SweepSpec,
    assignment: dict[str, Any],
    train_tokens: Callable[[Any], int],
) -> tuple[list[PlanPoint], list[str]]:
    """The trials of every budget x size at one point of the other axes, and notes on the
    combinations left out. Raises SpecError when a trial needs more tokens than its data holds
    and `repeat_data` is off."""
    compute = spec.compute
    points: list[PlanPoint] = []
    notes: list[str] = [RECENTRE_NOTE] if compute.recentre else []
    seen: set[tuple[float, Any]] = set()
    counts = None  # built at the first budget with auto sizes, shared by the others
    for budget in compute.budgets:
        sizes = compute.sizes_at(budget)
        if sizes is None:
            counts = counts or size_counts(spec, assignment)
            sizes = auto_sizes(spec, counts, budget)
        for size in sizes:
            sized = {**assignment, **_size_assignment(size)}
            cfg, fwd = _forward_flops(spec, sized)
            model = cfg.model_config_resolved()
            if (budget, model) in seen:
                notes.append(
                    f"C={budget:.3g}: {cfg.model.label} has the shape of another size; run once"
                )
                continue
            seen.add((budget, model))
            point = _spend(spec, PlanPoint(sized, budget), cfg, fwd, train_tokens, notes)
            if point is not None:
                points.append(point)
    return points, notes


def _spend(
    spec: SweepSpec,
    sized: PlanPoint,
    cfg: AnyTrialConfig,
    fwd: int,
    train_tokens: Callable[[Any], int],
    notes: list[str],
) -> PlanPoint | None:
    """`sized` with the whole optimizer steps that spend its budget (and the epochs they need
    where `repeat_data` allows them), or None with a note where it cannot be a point."""
    compute, budget, label = spec.compute, sized.budget, cfg.model.label
    per_step = cfg.tokens_per_step()
    steps = round(tokens_for_budget(budget, fwd) / per_step)
    if steps < compute.min_steps:
        notes.append(
            f"left out C={budget:.3g} x {label}: {steps} steps < compute.min_steps "
            f"({compute.min_steps}); a smaller size or a larger budget fits"
        )
        return None
    tokens = steps * per_step
    miss = training_flops(fwd, tokens) / budget - 1
    if abs(miss) > compute.tolerance:
        notes.append(
            f"left out C={budget:.3g} x {label}: whole steps of {per_step} tokens miss "
            f"the budget by {miss:+.1%} > compute.tolerance {compute.tolerance:g}"
        )
        return None
    point = {**sized.assignment, "trainer.max_tokens": tokens}
    held = train_tokens(cfg)
    if tokens > held:
        if not compute.repeat_data:
            raise SpecError(
                f"{spec.source}: compute.budgets: C={budget:.3g} on {label} needs "
                f"{tokens:,} tokens but data.fraction={cfg.data.fraction:g} holds {held:,}; "
                "lower the budget, raise data.fraction or set compute.repeat_data: true"
            )
        # Rounded up, so epochs x data never caps the token budget below `tokens`.
        point[EPOCHS_KEY] = math.ceil(tokens / held * 1e4) / 1e4
    return PlanPoint(point, budget)
