"""What a training loop talks to: the Reporter protocol, the run Context, and TrialDiverged.

A loop in `trainers/` never imports Ray. It reports metrics and checkpoint folders through a
`Reporter` and learns its rank, device and trial folder from a `Context`; the Ray adapter
(`trainers/ray_worker.py`) supplies both, and tests and plain-process runs use `ListReporter`.

    reporter = ListReporter()
    final = train(cfg, reporter, Context(trial_dir="runs/t0"))
    print(reporter.reports[-1]["eval/loss"])

Distributed contract: every rank calls `report` at the same points with the same metric keys,
because Ray Train's `report` is a collective that every worker must reach the same number of
times. Only rank 0 writes checkpoints, so only rank 0 passes a `checkpoint_dir`; the metrics
of other ranks are ignored by Ray. Every rank calls `latest_checkpoint` once, at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class Reporter(Protocol):
    """Where a training loop sends its metrics and checkpoints, and finds one to resume from."""

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        """Record one evaluation's metrics; `checkpoint_dir` holds the checkpoint taken then."""
        ...

    def latest_checkpoint(self) -> str | None:
        """Folder of the checkpoint to resume from, or None to start from scratch."""
        ...


def identity(model: nn.Module) -> nn.Module:
    """The default `Context.wrap_model`: single-process runs train the module as built."""
    return model


@dataclass(frozen=True)
class Context:
    """Where and how this process runs: runtime facts that are never part of a TrialConfig."""

    rank: int = 0
    """This worker's data-parallel rank (0-based); rank 0 writes checkpoints."""
    world_size: int = 1
    """Number of data-parallel workers; each step consumes world_size x the per-worker batch."""
    device: str = "auto"
    """Torch device for this worker (e.g. cuda:1); auto defers to the run config's device."""
    num_threads: int | None = None
    """Intra-op CPU threads for torch; None leaves torch's default."""
    trial_dir: str | None = None
    """Folder where checkpoints/ is written; None writes under a fresh temporary folder."""
    threads_file: Path | None = None
    """A file the sweep's driver writes a larger thread count into while cores idle at the
    sweep's tail (trainers.threads); None: num_threads throughout."""
    wrap_model: Callable[[nn.Module], nn.Module] = field(default=identity)
    """Applied to the built model, e.g. ray.train.torch.prepare_model for DDP."""

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise ValueError(f"Context.world_size must be >= 1, got {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"Context.rank must be in [0, world_size={self.world_size}), got {self.rank}"
            )
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"Context.num_threads must be >= 1 or None, got {self.num_threads}")

    @property
    def is_main(self) -> bool:
        """True on the worker that writes checkpoints (rank 0)."""
        return self.rank == 0


class ListReporter:
    """A Reporter that keeps everything in memory: for tests and plain-process runs."""

    def __init__(self, resume_from: str | None = None) -> None:
        self.reports: list[dict[str, float]] = []
        """Every report's metrics, in order."""
        self.checkpoint_dirs: list[str | None] = []
        """The checkpoint folder passed with each report (None where there was none)."""
        self.resume_from = resume_from
        """What latest_checkpoint returns: a checkpoint folder to resume from, or None."""

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        self.reports.append(dict(metrics))
        self.checkpoint_dirs.append(checkpoint_dir)

    def latest_checkpoint(self) -> str | None:
        return self.resume_from


class TrialDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the step and learning rate.

    Runners should record this as a finished-but-diverged trial, not retry it: a rerun with the
    same config and seed diverges again.
    """
