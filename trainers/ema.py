"""Exponential moving average (EMA) of a model's trainable weights, swapped in for evaluation.

The average smooths the last steps' noise out of the weights, which usually evaluates better
than the raw weights at the same step. Only trainable parameters are averaged (frozen ones
would equal their average), and the raw weights keep training underneath.

    ema = EMA(model, decay=0.999)
    optimizer.step(); ema.update(model)
    with ema.applied(model): eval_loss = evaluate(model)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


class EMA:
    """Shadow copies of `model`'s trainable parameters, averaged after every optimizer step.

    The effective decay warms up as min(decay, (1 + n) / (10 + n)) after n updates, so a short
    run is not dominated by the initial weights (the TensorFlow/timm convention).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"task.ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        """Decay per update once warmed up: shadow <- decay * shadow + (1 - decay) * weight."""
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        """Names of the averaged parameters, in model order."""
        params = dict(model.named_parameters())
        self.shadow = [params[name].detach().clone() for name in self.names]
        """The averaged weights, one tensor per name, on the model's device."""
        self.num_updates = 0
        """Updates applied so far (drives the decay warm-up; saved with the state)."""

    def _params(self, model: nn.Module) -> list[torch.Tensor]:
        params = dict(model.named_parameters())
        return [params[name] for name in self.names]

    def current_decay(self) -> float:
        """The decay the next update will use."""
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average toward the model's current weights (call after optimizer.step)."""
        weight = 1.0 - self.current_decay()
        for shadow, param in zip(self.shadow, self._params(model), strict=True):
            shadow.lerp_(param.detach(), weight)
        self.num_updates += 1

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Run the block with the averaged weights in `model`; the raw ones come back after."""
        params = self._params(model)
        raw = [p.detach().clone() for p in params]
        with torch.no_grad():
            for param, shadow in zip(params, self.shadow, strict=True):
                param.copy_(shadow)
        try:
            yield model
        finally:
            with torch.no_grad():
                for param, saved in zip(params, raw, strict=True):
                    param.copy_(saved)

    def state_dict(self) -> dict[str, Any]:
        """Tensors and ints only, so it loads with torch.load(weights_only=True)."""
        return {
            "shadow": dict(zip(self.names, self.shadow, strict=True)),
            "num_updates": self.num_updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore an average saved by `state_dict` (same trainable parameter names)."""
        if list(state["shadow"]) != self.names:
            raise ValueError("checkpoint's EMA weights do not match the model's trainable ones")
        for shadow, saved in zip(self.shadow, state["shadow"].values(), strict=True):
            shadow.copy_(saved)
        self.num_updates = int(state["num_updates"])
