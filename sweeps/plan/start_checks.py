"""What every trial checks when it starts, checked for the whole plan before Ray starts.

A spec that validates can still describe trials that cannot run: cooldown branches too close
together for the run's steps, a model whose weights and optimizer state alone exceed the
machine, or a compute grid that leaves out every combination. Each failed only at run time
(or planned nothing and exited 0); `--dry-run` and the runner call this, so "the dry-run
passed" means the sweep can start.

    plan = make_plan(spec)
    check_startable(plan, node_memory_bytes=machine_memory())   # SpecError naming the key
"""

from __future__ import annotations

import os
from typing import Any

from sweeps.errors import SpecError
from sweeps.spec.compute_spec import PARAMS_KEY, PRESET_KEY
from trainers.cooldown import plan_cooldowns

TRAIN_BYTES_PER_PARAM = 16
"""Bytes per parameter that training holds whatever the batch: fp32 weights and gradients and
AdamW's two moments (4 + 4 + 8). A lower bound: activations and the data come on top."""


def machine_memory() -> int | None:
    """Physical memory of this machine in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_startable(plan: Any, node_memory_bytes: int | None = None) -> None:
    """Refuse a plan with no trials, a trial whose cooldown branches its own run cannot hold,
    or a largest model whose training state alone exceeds `node_memory_bytes` (skipped when
    None, e.g. for a cluster whose nodes this machine cannot see)."""
    source = plan.spec.source
    if not plan.trials:
        why = f" ({plan.notes[0]})" if plan.notes else ""
        raise SpecError(f"{source}: the plan has no trials{why}")
    for trial in plan.trials:
        _check_branches(trial, source)
    if node_memory_bytes:
        _check_memory(plan, node_memory_bytes, source)


def _check_branches(trial: Any, source: str) -> None:
    """The trial's own plan_cooldowns call, on the steps it will take."""
    optim = getattr(trial.config, "optim", None)
    if optim is None or not optim.cooldowns or trial.train_tokens is None:
        return
    steps = trial.config.num_steps(trial.train_tokens, trial.resources.workers)
    try:
        plan_cooldowns(optim, steps)
    except ValueError as err:
        raise SpecError(f"{source}: {err} (trial {trial.tag})") from None


def _check_memory(plan: Any, node_memory_bytes: int, source: str) -> None:
    largest = max(plan.trials, key=lambda t: t.params_total)
    need = TRAIN_BYTES_PER_PARAM * largest.params_total
    if need > node_memory_bytes:
        key = PARAMS_KEY if largest.config.model.params is not None else PRESET_KEY
        key = "compute.sizes" if largest.budget is not None else key
        raise SpecError(
            f"{source}: {key}: {largest.config.model.label} ({largest.params_total:.3g} "
            f"parameters) needs at least {need / 2**30:,.0f} GiB to train (weights, gradients "
            f"and AdamW state), more than this machine's {node_memory_bytes / 2**30:,.0f} GiB"
        )
