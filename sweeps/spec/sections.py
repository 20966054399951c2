"""The sweep-level sections of a sweep YAML that say how trials are chosen and kept:
``search:`` (with its ``scheduler:``) and ``run:``.

    search = SearchConfig.model_validate({"metric": ["eval/loss", "flops"], "mode": "min"})
    search.objectives        # [("eval/loss", "min"), ("flops", "min")]
    RunOptions().storage     # "results"
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from contract.config import FROZEN
from contract.metrics import EVAL_LOSS


class SchedulerConfig(BaseModel):
    """Early stopping across trials; ASHA compares trials at equal data seen (`tokens`)."""

    model_config = FROZEN

    type: Literal["fifo", "asha"] = "fifo"
    """fifo runs every trial to its budget; asha stops the worst at each rung."""
    grace_tokens: int | None = Field(None, gt=0)
    """Tokens every trial trains before it may be stopped; null = 1/16 of the largest budget."""
    reduction_factor: float = Field(3.0, gt=1)
    """ASHA keeps the best 1/reduction_factor of trials at each rung."""
    stratify_by: list[str] = []
    """Dotted keys (e.g. model.size) whose values get separate ASHA brackets, so small models
    are never stopped for losing to large ones."""


class SearchConfig(BaseModel):
    """What to optimise and how to pick the trials."""

    model_config = FROZEN

    metric: str = EVAL_LOSS
    """Metric the search and scheduler optimise (a standard metric name)."""
    mode: Literal["min", "max"] = "min"
    """Whether lower (min) or higher (max) metric values are better."""
    algorithm: Literal["grid", "random", "optuna"] = "grid"
    """grid: every grid/choice value; random: grid axes crossed with num_samples random draws of
    the others; optuna: Optuna's sampler (TPE unless `sampler` says) over all axes for
    num_samples trials."""
    sampler: Literal["tpe", "cmaes", "gp", "qmc", "random", "nsga2"] | None = None
    """Optuna sampler (algorithm optuna only); null = tpe. The study is kept in the sweep
    folder as optuna.journal, which `optuna-dashboard` opens."""
    more_metrics: list[str] = []
    """Further objectives optimised jointly with `metric` (Optuna multi-objective search); in
    YAML, write `metric: [eval/loss, flops]` and `mode: [min, min]`."""
    more_modes: list[Literal["min", "max"]] = []
    """Mode of each of `more_metrics`."""
    num_samples: int = Field(1, gt=0)
    """Random draws per grid point (random) or trials in total (optuna)."""
    seeds: list[int] = Field([0], min_length=1)
    """Replicate seeds: every trial point runs once per seed."""
    seed: int = 0
    """Seed of the planner's random draws, so a random sweep plans the same trials twice."""
    scheduler: SchedulerConfig = SchedulerConfig()
    """Trial scheduler; a plain string (fifo, asha) is accepted as shorthand."""

    @field_validator("scheduler", mode="before")
    @classmethod
    def _scheduler_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _objective_lists(cls, data: Any) -> Any:
        """`metric: [a, b]`, `mode: [min, max]`: the first is the primary metric (tables,
        scheduler), the rest are the further objectives of a multi-objective search."""
        if not isinstance(data, dict) or not isinstance(data.get("metric"), list):
            return data
        metrics, mode = list(data["metric"]), data.get("mode", "min")
        modes = list(mode) if isinstance(mode, list) else [mode] * len(metrics)
        if not metrics or len(modes) != len(metrics):
            raise ValueError("metric and mode lists must have the same, non-zero length")
        return {
            **data,
            "metric": metrics[0],
            "mode": modes[0],
            "more_metrics": metrics[1:],
            "more_modes": modes[1:],
        }

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(metric, mode) of every objective, the primary first."""
        return [(self.metric, self.mode), *zip(self.more_metrics, self.more_modes, strict=True)]


class RunOptions(BaseModel):
    """How the runner treats trials and storage."""

    model_config = FROZEN

    storage: str = "results"
    """Results root; the sweep writes to <storage>/<name>/ (--storage overrides)."""
    max_failures: int = Field(0, ge=0)
    """Retries of a trial whose process died; each resumes from its latest checkpoint."""
    retry_failed: bool = False
    """On resume, run again trials that ended in error (default: keep their failure)."""
