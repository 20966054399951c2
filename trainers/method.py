"""What a training method supplies to the shared loop, and the helpers methods build with.

A method (language modelling, classification, diffusion, ...) is a small `Method` object: its
data, its model, its loss and its evaluation. `trainers.loop.run` does everything else, so a new
method is one subclass here and one `train()` that calls `run`; it never touches checkpoints,
schedules or reporting.

    class MyMethod(Method):
        def build_model(self): ...
        def counts(self, model): return ModelCounts(params=..., params_total=..., flops_per_token=...)
        def train_batch(self, generator): ...
        def loss(self, model, batch): ...
        def evaluate(self, model): return {"eval/loss": ...}
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainers.config import OptimConfig, TrialConfig
from trainers.ema import EMA
from trainers.reporter import Context

Batch = tuple[torch.Tensor, ...]
"""One micro-batch, already on the device; its layout is the method's business."""


@dataclass(frozen=True)
class ModelCounts:
    """What a trained model counts as for scaling laws (reported as params/flops)."""

    params: int
    """Non-embedding parameters (N)."""
    params_total: int
    """All parameters."""
    flops_per_token: int
    """Forward FLOPs per token (per sample for non-sequence tasks)."""


class Method(ABC):
    """One training method's pieces for one trial on one worker.

    Constructed as `Method(cfg, ctx, device)` before any model exists: it loads its data (this
    worker's shard of the training split) and sets `train_size`. `run` then seeds torch and
    calls `build_model`, so weight initialisation is a function of cfg.seed alone.
    """

    train_size: int
    """Size of the whole training split (all workers), in tokens or samples."""
    ema_decay: float | None = None
    """Set to average the weights (trainers.ema) and evaluate with the average."""

    def __init__(self, cfg: TrialConfig, ctx: Context, device: torch.device) -> None:
        self.cfg, self.ctx, self.device = cfg, ctx, device

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The module to train, freshly built (and initialised as the method wants)."""

    @abstractmethod
    def counts(self, model: nn.Module) -> ModelCounts:
        """Parameter and FLOP counts of the built model."""

    @abstractmethod
    def train_batch(self, generator: torch.Generator) -> Batch:
        """One training micro-batch; all randomness drawn from `generator` (saved on resume)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Scalar training loss of `model` (possibly DDP-wrapped) on `batch`."""

    @abstractmethod
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out metrics, EVAL_LOSS at least; runs in eval mode under torch.no_grad."""

    def finish(self, model: nn.Module, trial_dir: Path) -> None:
        """Write end-of-training artefacts into trial_dir (rank 0, last step only)."""
        return None  # most methods have none


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices (dim >= 2) only, never on norm gains.

    Frozen parameters (requires_grad False) are left out, so they never change.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    kwargs: dict[str, Any] = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}
    try:
        # One fused kernel per step beats per-tensor launches, which dominate at small sizes.
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except RuntimeError:
        return torch.optim.AdamW(groups, foreach=True, **kwargs)


def require_one_batch(available: int, needed: int, unit: str = "tokens") -> None:
    """Fail at start-up, naming data.fraction, when the training split is under one step."""
    if available < needed:
        raise ValueError(
            f"data.fraction leaves {available} training {unit}, fewer than one step ({needed})"
        )


@contextlib.contextmanager
def eval_mode(model: nn.Module, ema: EMA | None) -> Iterator[None]:
    """Eval mode, no autograd, and the averaged weights when there are any."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), ema.applied(model) if ema else contextlib.nullcontext():
            yield
    finally:
        model.train(was_training)
