"""Plain multilayer perceptron and its config: regression/classification tasks and RL policy nets.

All hidden layers share one width, so size presets scale it like the transformer's d_model and
the RL side can read ``hidden_sizes`` straight into a policy network spec.

    cfg = MLPConfig(d_in=16, d_model=64, n_layers=2, d_out=1)
    model = cfg.build()
    y = model(torch.randn(32, 16))  # (32, 1)
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, model_validator
from torch import nn

from contract.config import FROZEN
from models.counting import training_flops

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


class MLPConfig(BaseModel):
    """Width, depth and activation of a fully connected network with biases."""

    model_config = FROZEN

    type: Literal["mlp"] = "mlp"
    """Model family tag: which config class a `model:` section validates into."""
    d_in: int = 16
    """Input features per sample."""
    d_model: int
    """Width of every hidden layer (features)."""
    n_layers: int
    """Number of hidden layers (each Linear + activation); 1 or more."""
    d_out: int = 1
    """Output features per sample (regression targets or class logits)."""
    activation: Literal["relu", "gelu", "silu", "tanh"] = "gelu"
    """Nonlinearity after every hidden layer."""
    dropout: float = 0.0
    """Dropout probability (0-1) after every hidden activation."""

    @model_validator(mode="after")
    def _check_shapes(self) -> MLPConfig:
        for name in ("d_in", "d_model", "n_layers", "d_out"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        return self

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """Widths of the hidden layers, e.g. (64, 64), as RL policy-net specs want them."""
        return (self.d_model,) * self.n_layers

    @property
    def num_params(self) -> int:
        """All weights and biases; an MLP has no embeddings, so this equals num_params_total."""
        widths = (self.d_in, *self.hidden_sizes, self.d_out)
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))

    @property
    def num_params_total(self) -> int:
        """Same as num_params (nothing to exclude)."""
        return self.num_params

    @property
    def flops_per_token(self) -> int:
        """Forward FLOPs per sample: 2 per parameter (a multiply-add per weight; bias adds and
        activations are within that rounding), the same convention as the transformer."""
        return 2 * self.num_params

    @property
    def train_flops_per_token(self) -> int:
        """Forward plus backward FLOPs per sample (3 x forward)."""
        return int(training_flops(self, 1))

    def build(self) -> MLP:
        """Instantiate the module with freshly initialised weights."""
        return MLP(self)


class MLP(nn.Module):
    """(Linear -> activation -> dropout) x n_layers -> Linear."""

    def __init__(self, cfg: MLPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.d_in
        for hidden in cfg.hidden_sizes:
            layers += [
                nn.Linear(width, hidden),
                _ACTIVATIONS[cfg.activation](),
                nn.Dropout(cfg.dropout),
            ]
            width = hidden
        layers.append(nn.Linear(width, cfg.d_out))
        # PyTorch's default (Kaiming-uniform) init suits these shallow nets; no override needed.
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (..., d_out) for inputs x (..., d_in)."""
        if x.shape[-1] != self.cfg.d_in:
            raise ValueError(f"input has {x.shape[-1]} features, model.d_in is {self.cfg.d_in}")
        return self.net(x)
