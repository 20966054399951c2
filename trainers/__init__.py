"""Training tasks by name: each is a plain loop `train(cfg, reporter, ctx)` that needs no Ray.

lm, mlm, regression, diffusion and classify share one loop (`trainers.loop`); their options
are the trial config's `task:` section (`trainers.tasks`). `trainers.ray_worker` adapts any of
them to Ray Train; tests and scripts call them directly.

    from trainers import ListReporter, get_trainer
    final = get_trainer(cfg.trainer.task)(cfg, ListReporter(), Context())
    print(final["eval/loss"])
"""

from __future__ import annotations

from collections.abc import Callable

from trainers import classify, diffusion, lm, mlm, regression
from trainers.config import OptimConfig, RunConfig, TrainerConfig
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

Trainer = Callable[[RunConfig, Reporter, Context], dict[str, float]]
"""A task's loop: takes the trial config, a reporter and the runtime context; returns the
metrics of its final report."""

TRAINERS: dict[str, Trainer] = {
    "lm": lm.train,
    "mlm": mlm.train,
    "regression": regression.train,
    "diffusion": diffusion.train,
    "classify": classify.train,
}
"""Training loops by task name (task.type of a RunConfig, mirrored in trainer.task)."""


def get_trainer(name: str) -> Trainer:
    """The loop registered as `name`; unknown names raise ValueError listing the valid ones."""
    try:
        return TRAINERS[name]
    except KeyError:
        valid = ", ".join(sorted(TRAINERS))
        raise ValueError(f"trainer.task {name!r} is not a known trainer; valid: {valid}") from None


__all__ = [
    "TASKS",
    "TRAINERS",
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
    "RunConfig",
    "TaskConfig",
    "Trainer",
    "TrainerConfig",
    "TrialDiverged",
    "get_trainer",
]
