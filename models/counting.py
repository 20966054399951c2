"""Parameter and compute accounting shared by every model family.

Training compute is 3 x forward FLOPs per token x tokens (forward once, backward twice); the formula
itself lives in `contract.compute`, so trainers, the planner and the analysis agree.

    from models import from_name, training_flops
    cfg = from_name("gpt-1m")
    training_flops(cfg, num_tokens=10_000_000)  # 7.2e13 FLOPs
"""

from __future__ import annotations

from typing import Protocol

from torch import nn

from contract.compute import training_flops as _training_flops


class Countable(Protocol):
    """Anything with an analytic forward cost, i.e. every model config."""

    @property
    def flops_per_token(self) -> int:
        """Forward FLOPs per token (or per sample for non-text models)."""
        ...


def training_flops(cfg: Countable, num_tokens: int) -> float:
    """Training FLOPs for ``num_tokens`` tokens (samples) seen: 3 * flops_per_token * tokens."""
    return _training_flops(cfg.flops_per_token, num_tokens)


def count_params(module: nn.Module, exclude: tuple[str, ...] = ()) -> int:
    """Parameters of a built module, shared tensors once, skipping names starting with ``exclude``.

    ``count_params(gpt, exclude=("tok_emb", "lm_head"))`` measures what ``num_params`` predicts.
    """
    return sum(p.numel() for name, p in module.named_parameters() if not name.startswith(exclude))
