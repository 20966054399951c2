"""What one trial asks Ray for, and how many trials fit on the cluster at once.

A trial is a driver (the Tune trial process) plus, for multi-worker trials, a Ray Train worker
group that Tune does not reserve. Single-worker trials train inside the driver (Train's local
mode), so they reserve exactly one worker's resources.

    res = ResourcesConfig(cpus_per_worker=1, by_size={"gpt-10m": {"cpus_per_worker": 2}})
    res.for_size("gpt-10m").trial_bundle()        # {"CPU": 2.0}
    max_concurrent({"CPU": 2}, [res.for_size("gpt-10m")])   # 1
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from contract.config import FROZEN

DRIVER_CPUS = 0.5
"""CPU reserved for the driver of a multi-worker trial (it only forwards reports)."""


class WorkerResources(BaseModel):
    """Resources of one trial: Train workers x per-worker CPUs/GPUs/custom resources."""

    model_config = FROZEN

    workers: int = Field(1, gt=0)
    """Data-parallel Train workers; 1 trains inside the trial process (no worker group)."""
    cpus_per_worker: float = Field(1.0, gt=0)
    """CPUs per worker; torch uses this many threads."""
    gpus_per_worker: float = Field(0.0, ge=0)
    """GPUs per worker; > 0 places the trial only on GPU nodes and trains on CUDA."""
    custom_per_worker: dict[str, float] = {}
    """Extra Ray resources per worker, e.g. {"accelerator_type:A100": 0.01} or a node label."""

    @property
    def uses_worker_group(self) -> bool:
        """Multi-worker trials need a real Train worker group (DDP)."""
        return self.workers > 1

    def worker_bundle(self) -> dict[str, float]:
        bundle = {"CPU": float(self.cpus_per_worker), **self.custom_per_worker}
        if self.gpus_per_worker:
            bundle["GPU"] = float(self.gpus_per_worker)
        return bundle

    def trial_bundle(self) -> dict[str, float]:
        """What Tune reserves for the trial process itself."""
        if self.uses_worker_group:
            return {"CPU": DRIVER_CPUS}
        return self.worker_bundle()

    def total(self) -> dict[str, float]:
        """Everything the trial occupies while it runs: driver plus worker group."""
        if not self.uses_worker_group:
            return self.worker_bundle()
        total = {k: v * self.workers for k, v in self.worker_bundle().items()}
        total["CPU"] += DRIVER_CPUS
        return total


class ResourceOverride(BaseModel):
    """Per-model-size changes to the default trial resources; null keeps the default."""

    model_config = FROZEN

    workers: int | None = Field(None, gt=0)
    cpus_per_worker: float | None = Field(None, gt=0)
    gpus_per_worker: float | None = Field(None, ge=0)
    custom_per_worker: dict[str, float] | None = None


class ResourcesConfig(WorkerResources):
    """The sweep's `resources:` section."""

    by_size: dict[str, ResourceOverride] = {}
    """Overrides keyed by model size name (a preset), e.g. larger models on GPUs."""
    max_concurrent_trials: int | Literal["auto"] = "auto"
    """Trials running at once; auto derives it from the cluster's resources."""
    tail_threads: bool = True
    """Once the last trials run and cores sit idle, single-worker CPU trials grow into them as
    threads, and give them back if a trial waits again (a retry); a trial keeps extra threads
    only while its steps get faster (sweeps.tune.tail_threads, trainers.threads). Losses
    match those with fixed threads to float rounding."""

    @model_validator(mode="after")
    def _known_sizes(self) -> ResourcesConfig:
        from models import PRESETS, SIZE_ALIASES

        for size in self.by_size:
            if size not in PRESETS and size not in SIZE_ALIASES:
                raise ValueError(f"resources.by_size.{size}: unknown model size")
        return self

    def for_size(self, size: str) -> WorkerResources:
        base = WorkerResources(
            workers=self.workers,
            cpus_per_worker=self.cpus_per_worker,
            gpus_per_worker=self.gpus_per_worker,
            custom_per_worker=self.custom_per_worker,
        )
        override = self.by_size.get(size)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))


def fits(available: dict[str, float], need: dict[str, float]) -> int:
    """How many copies of `need` fit into `available` (0 if any resource is missing)."""
    counts = [math.floor(available.get(k, 0.0) / v + 1e-9) for k, v in need.items() if v > 0]
    return min(counts) if counts else 0


def max_concurrent(available: dict[str, float], trials: list[WorkerResources]) -> int:
    """Trials that can run at once without one holding resources another's workers need.

    Single-worker trials are wholly reserved by Tune, so Tune's own admission is safe and the
    smallest trial sets the bound. A worker group is placed only after its trial started, so
    with multi-worker trials the largest footprint (driver + workers) sets it instead. At
    least 1, so a too-small cluster shows up as Ray's "insufficient resources" warning.
    """
    if not trials:
        return 1
    pick = max if any(t.uses_worker_group for t in trials) else min
    keys = {k for t in trials for k in t.total()}
    footprint = {k: pick(t.total().get(k, 0.0) for t in trials) for k in keys}
    return max(1, fits(available, footprint))
