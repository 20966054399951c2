"""Task heads on the model families: a pooled linear head on a transformer backbone (sequence
classification or regression) and a timestep-conditioned MLP denoiser (diffusion).

Both keep the analytic counting of the family they extend, so trainers can report `params`
and `flops` for them the way the language model does.

    model = SequenceModel(GPTConfig(d_model=64, n_layers=2, n_heads=4, d_ff=176), d_out=4)
    logits = model(torch.randint(0, 256, (8, 128)))                     # (8, 4)
    eps = Denoiser(MLPConfig(d_in=18, d_model=64, n_layers=2, d_out=2), data_dim=2)(x_t, t)
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from models.gpt import GPTConfig
from models.mlp import MLPConfig

Pooling = Literal["mean", "last"]
"""How a head turns a sequence of features into one: average over positions, or the last
position (which, in a causal model, is the only one that has seen the whole sequence)."""


class PooledHead(nn.Module):
    """Pool (B, T, C) features over T, then a linear map to d_out outputs (with bias)."""

    def __init__(self, d_model: int, d_out: int, pooling: Pooling = "mean") -> None:
        super().__init__()
        if pooling not in ("mean", "last"):
            raise ValueError(f"task.pooling must be mean or last, got {pooling!r}")
        self.pooling = pooling
        self.proj = nn.Linear(d_model, d_out)
        # Zero init: the untrained head predicts the uniform class distribution (or 0), so the
        # first steps do not fight a random readout of the pretrained features.
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pooled = h.mean(dim=1) if self.pooling == "mean" else h[:, -1]  # (B, C)
        return self.proj(pooled)  # (B, d_out)


class SequenceModel(nn.Module):
    """A GPT backbone (without its language-model head), a pooling step and a linear head."""

    def __init__(self, cfg: GPTConfig, d_out: int, pooling: Pooling = "mean") -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = cfg.build()
        # The LM head is never used here; an Identity keeps GPT.forward meaningful (it now
        # returns features) and keeps unused weights out of the optimizer and of DDP.
        self.backbone.lm_head = nn.Identity()
        self.head = PooledHead(cfg.d_model, d_out, pooling)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Outputs (B, d_out) for token ids idx (B, T)."""
        return self.head(self.backbone.hidden_states(idx))  # (B, T, C) -> (B, d_out)


def sequence_model_params(cfg: GPTConfig, d_out: int) -> tuple[int, int]:
    """(non-embedding, total) parameters of `SequenceModel(cfg, d_out)`.

    Non-embedding is the backbone's num_params plus the head; total adds the token embedding
    (the language-model head is gone, tied or not).
    """
    params = cfg.num_params + cfg.d_model * d_out + d_out
    return params, params + cfg.vocab_size * cfg.d_model


def sequence_model_flops_per_token(cfg: GPTConfig, d_out: int) -> int:
    """Forward FLOPs per token: the backbone without its LM head, plus the head's
    2 * d_model * d_out per sequence spread over the sequence's seq_len tokens (rounded up)."""
    backbone = cfg.flops_per_token - 2 * cfg.d_model * cfg.vocab_size
    return backbone + math.ceil(2 * cfg.d_model * d_out / cfg.seq_len)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features (B, dim) of integer timesteps t (B,), as in the transformer's
    positional encoding: geometric frequencies from 1 to 1/max_period, cosines then sines."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )  # (dim/2,)
    angles = t.float()[:, None] * freqs[None]  # (B, dim/2)
    emb = torch.cat([angles.cos(), angles.sin()], dim=-1)  # (B, 2 * (dim/2))
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)  # (B, dim)
    return emb


class Denoiser(nn.Module):
    """Noise predictor eps(x_t, t): an MLP over [x_t, timestep_embedding(t)].

    The MLP's d_in is data_dim plus the embedding width and its d_out is data_dim, so the
    model's parameters and FLOPs are exactly the MLP's (the embedding has no weights).
    """

    def __init__(self, cfg: MLPConfig, data_dim: int) -> None:
        super().__init__()
        if cfg.d_out != data_dim or cfg.d_in <= data_dim:
            raise ValueError(
                f"model.d_in ({cfg.d_in}) must exceed and model.d_out ({cfg.d_out}) must equal "
                f"the data dimension ({data_dim})"
            )
        self.cfg, self.data_dim = cfg, data_dim
        self.time_dim = cfg.d_in - data_dim
        self.mlp = cfg.build()

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted noise (B, data_dim) for noisy points x_t (B, data_dim) at steps t (B,)."""
        features = torch.cat([x_t, timestep_embedding(t, self.time_dim).to(x_t.dtype)], dim=-1)
        return self.mlp(features)  # (B, data_dim + time_dim) -> (B, data_dim)
