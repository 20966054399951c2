"""Low-rank adaptation (LoRA, Hu et al. 2021): train small adapters instead of a backbone.

Each adapted Linear computes W x + (alpha / rank) * B A x with W frozen; A (rank x d_in) starts
random and B (d_out x rank) at zero, so the adapted model starts out exactly equal to the
backbone and only A and B (plus whatever the caller leaves trainable, e.g. a head) learn.

    names = apply_lora(model.backbone, LoRAConfig(rank=4, alpha=8, target_modules=("wq", "wv")))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    # -> backbone.blocks.0.attn.wq.lora_a, ...lora_b, ..., head.proj.weight, head.proj.bias
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainers.tasks import LoRAConfig


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update of scale alpha / rank."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        self.rank, self.scale = rank, alpha / rank
        device, dtype = base.weight.device, base.weight.dtype
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=device, dtype=dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=device, dtype=dtype))
        # nn.Linear's own default init for A; B = 0 makes the update zero at the start.
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = (x @ self.lora_a.T) @ self.lora_b.T  # (..., d_in) -> (..., r) -> (..., d_out)
        return self.base(x) + self.scale * update


def apply_lora(model: nn.Module, cfg: LoRAConfig) -> list[str]:
    """Freeze `model` and wrap every nn.Linear whose attribute name is in cfg.target_modules.

    Returns the dotted names of the wrapped layers. Raises ValueError naming
    task.lora.target_modules if nothing matched.
    """
    model.requires_grad_(False)
    targets = set(cfg.target_modules)
    found = [
        (parent_name, parent, child_name, child)
        for parent_name, parent in model.named_modules()
        for child_name, child in parent.named_children()
        if child_name in targets and isinstance(child, nn.Linear)
    ]
    if not found:
        raise ValueError(
            f"task.lora.target_modules: none of {sorted(targets)} names a Linear layer of the "
            "backbone"
        )
    wrapped = []
    for parent_name, parent, child_name, child in found:
        setattr(parent, child_name, LoRALinear(child, cfg.rank, cfg.alpha))
        wrapped.append(f"{parent_name}.{child_name}" if parent_name else child_name)
    return wrapped


def lora_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The adapters' A and B matrices by name."""
    return {
        name: p
        for name, p in model.named_parameters()
        if name.endswith((".lora_a", ".lora_b")) or name in ("lora_a", "lora_b")
    }
