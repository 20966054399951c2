"""Training tasks by name: each is a plain loop `train(cfg, reporter, ctx)` that needs no Ray.

lm, mlm, regression, diffusion and classify share one loop (`trainers.loop`); their options
are the trial config's `task:` section (`trainers.tasks`). `trainers.ray_worker` adapts any of
them to Ray Train; tests and scripts call them directly.

    from trainers import ListReporter, get_trainer
    final = get_trainer(cfg.task.type)(cfg, ListReporter(), Context())
    print(final["eval/loss"])
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from trainers.config import OptimConfig, TrainerConfig, TrialConfig
from trainers.reporter import Context, ListReporter, Reporter, TrialDiverged
from trainers.tasks import (
    TASKS,
    ClassifyTask,
    DiffusionTask,
    LMTask,
    LoRAConfig,
    MLMTask,
    RegressionTask,
    TaskConfig,
)

Trainer = Callable[[TrialConfig, Reporter, Context], dict[str, float]]
"""A task's loop: takes the trial config, a reporter and the runtime context; returns the
metrics of its final report."""


def get_trainer(name: str) -> Trainer:
    """The loop of task type `name` (its `loop` module in the one registry, `TASKS`);
    unknown names raise ValueError listing the valid ones."""
    task = TASKS.get(name)
    if task is None:
        valid = ", ".join(sorted(TASKS))
        raise ValueError(f"task.type {name!r} is not a known task; valid: {valid}")
    return importlib.import_module(task.loop).train


__all__ = [
    "TASKS",
    "ClassifyTask",
    "Context",
    "DiffusionTask",
    "LMTask",
    "LoRAConfig",
    "ListReporter",
    "MLMTask",
    "OptimConfig",
    "RegressionTask",
    "Reporter",
    "TrialConfig",
    "TaskConfig",
    "Trainer",
    "TrainerConfig",
    "TrialDiverged",
    "get_trainer",
]
