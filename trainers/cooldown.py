"""Cooldown branches of a warmup-stable-decay run: several scaling-law points from one run.

With `optim: {schedule: wsd, cooldowns: [0.25, 0.5, 1.0], cooldown_fraction: 0.2}` the point
for fraction f ends at f x the run's steps. Its branch forks from the stable phase at
(1 - cooldown_fraction) x that end, decays linearly to min_lr_ratio x lr over the rest, is
evaluated, and the run goes on from the exact state it forked from: a branch trains the same
model and optimizer in place, between a snapshot and its restore, so the run's later losses
are those of a run without branches. The run's own decay is the last point (f = 1.0).

    plan = plan_cooldowns(cfg.optim, total_steps)            # {fork step: Cooldown}
    snapshot = Snapshot.take(model, optimizer, ema, batch_rng)
    ...train plan[step].decay_steps steps, evaluate...; snapshot.restore()

A branch sees the batches the run sees after the fork (the batch generator is restored too),
so a point and a separate run to the same tokens with the same seed see the same data.
Compute: a point's tokens and FLOPs are its stable tokens plus its own decay (what a separate
run to that D costs); the trial's `flops` adds every branch's decay to the run's own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from contract.compute import training_flops
from contract.metrics import (
    BRANCH_EVAL_LOSS,
    BRANCH_FLOPS,
    BRANCH_FRACTION,
    BRANCH_STEP,
    BRANCH_TOKENS,
    EVAL_LOSS,
    branch_metric,
)
from trainers import runtime
from trainers.config import OptimConfig
from trainers.ema import EMA
from trainers.reporter import TrialDiverged


@dataclass(frozen=True)
class Cooldown:
    """One point of a wsd run: a decay from `fork_step` to `end_step` (steps of the run)."""

    fraction: float
    """Fraction (0-1] of the run's token budget where the point lies."""
    fork_step: int
    """Stable-phase steps taken before the branch forks (the run's step count then)."""
    end_step: int
    """Steps behind the point: fork_step plus the branch's own decay steps."""

    @property
    def decay_steps(self) -> int:
        """Optimizer steps the branch trains itself (what it costs beyond the run)."""
        return self.end_step - self.fork_step


def plan_cooldowns(optim: OptimConfig, total_steps: int) -> dict[int, Cooldown]:
    """The branches of a run of `total_steps`, keyed by fork step; the run's own decay (the
    point at 1.0) is not a branch and is left out.

    Raises ValueError naming optim.cooldowns when the run is too short for distinct points.
    """
    branches: dict[int, Cooldown] = {}
    ends: set[int] = {total_steps}
    for fraction in optim.cooldowns:
        if fraction >= 1.0:
            continue
        end = round(fraction * total_steps)
        fork = optim.decay_start(end)
        stable = optim.warmup_steps(total_steps) <= fork < optim.decay_start(total_steps)
        if end in ends or fork in branches or not (stable and fork < end):
            raise ValueError(
                f"optim.cooldowns: a run of {total_steps} steps is too short for a cooldown at "
                f"{fraction} (it would end at step {end} after forking at step {fork})"
            )
        ends.add(end)
        branches[fork] = Cooldown(fraction, fork, end)
    return branches


def branch_tokens_before(plan: dict[int, Cooldown], step: int, tokens_per_step: int) -> int:
    """Tokens the branches forked at or before `step` trained on their own (a run resumed at
    `step` has run them: a fork step's checkpoint is written after its branch)."""
    return sum(c.decay_steps for c in plan.values() if c.fork_step <= step) * tokens_per_step


def _clone_tensors(state: Any) -> Any:
    """A deep copy in which every tensor is a fresh clone (live state keeps changing)."""
    return copy.deepcopy(state)


class Snapshot:
    """Everything a training step changes, copied so that a branch can be undone exactly:
    weights and buffers, optimizer moments and step counts, the weight average, and the
    batch-order and dropout random states."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        ema: EMA | None,
        batch_rng: torch.Generator,
    ) -> None:
        self.model, self.optimizer, self.ema, self.batch_rng = model, optimizer, ema, batch_rng
        self.model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.optimizer_state = _clone_tensors(optimizer.state_dict())
        self.ema_state = _clone_tensors(ema.state_dict()) if ema is not None else None
        self.rng_state = runtime.rng_state(batch_rng)

    @classmethod
    def take(
        cls,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        ema: EMA | None,
        batch_rng: torch.Generator,
    ) -> Snapshot:
        """Copy the state of a run about to fork a branch."""
        return cls(model, optimizer, ema, batch_rng)

    def restore(self) -> None:
        """Put the copied state back in place (same module and optimizer objects, so wrappers
        such as DDP keep working)."""
        with torch.no_grad():
            self.model.load_state_dict(self.model_state)
        self.optimizer.load_state_dict(self.optimizer_state)
        if self.ema is not None and self.ema_state is not None:
            self.ema.load_state_dict(self.ema_state)
        runtime.restore_rng_state(self.rng_state, self.batch_rng)


def point_metrics(
    fraction: float,
    end_step: int,
    tokens_per_step: int,
    flops_per_token: float,
    evaluation: dict[str, float],
) -> dict[str, float]:
    """The branch/* keys of a point `end_step` steps deep with held-out metrics `evaluation`."""
    tokens = end_step * tokens_per_step
    point = {
        BRANCH_FRACTION: fraction,
        BRANCH_STEP: end_step,
        BRANCH_TOKENS: tokens,
        BRANCH_FLOPS: training_flops(flops_per_token, tokens),
        BRANCH_EVAL_LOSS: evaluation[EVAL_LOSS],
    }
    point.update({branch_metric(k): v for k, v in evaluation.items() if k != EVAL_LOSS})
    return point


def run_branch(
    cooldown: Cooldown,
    snapshot: Snapshot,
    train_step: Callable[[float], torch.Tensor],
    lr_at: Callable[[int], float],
    evaluate: Callable[[], dict[str, float]],
) -> dict[str, float]:
    """Train `cooldown`'s decay with `train_step(lr)` (one optimizer step, returns its loss),
    evaluate it, and put the run back as `snapshot` holds it; returns the evaluation.

    Raises TrialDiverged, naming the branch, when its loss becomes NaN or infinite.
    """
    try:
        losses = [train_step(lr_at(k)) for k in range(cooldown.fork_step, cooldown.end_step)]
        finite = torch.isfinite(torch.stack(losses))  # one device sync per branch
        if not bool(finite.all()):
            bad = cooldown.fork_step + int((~finite).nonzero()[0, 0])
            raise TrialDiverged(
                f"loss became non-finite at step {bad} of the cooldown branch at "
                f"{cooldown.fraction} (lr={lr_at(bad):.3g})"
            )
        return evaluate()
    finally:
        snapshot.restore()
