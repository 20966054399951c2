"""Decoder-only transformer (pre-norm, RMSNorm, rotary attention, SwiGLU) and its config.

The config carries the analytic parameter and FLOP counts that scaling-law fits use as N and C;
tests check them against the built module.

    cfg = GPTConfig(d_model=64, n_layers=2, n_heads=4, d_ff=176)
    model = cfg.build()
    logits = model(torch.randint(0, cfg.vocab_size, (8, cfg.seq_len)))  # (8, 128, 256)
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, model_validator
from torch import nn

from contract.config import FROZEN
from models.counting import training_flops


class GPTConfig(BaseModel):
    """Shape and regularisation of a decoder-only (or, with causal=False, encoder) transformer."""

    model_config = FROZEN

    type: Literal["gpt"] = "gpt"
    """Model family tag: which config class a `model:` section validates into."""
    d_model: int
    """Residual stream width (features)."""
    n_layers: int
    """Number of transformer blocks."""
    n_heads: int
    """Query heads per attention layer; head width is d_model / n_heads (features)."""
    n_kv_heads: int | None = None
    """Key/value heads (grouped-query attention); None means n_heads (plain multi-head)."""
    d_ff: int
    """Hidden width of the SwiGLU feed-forward layer (features), usually about 8/3 * d_model."""
    vocab_size: int = 256
    """Number of token ids (tokens); also the width of the output logits."""
    seq_len: int = 128
    """Maximum context length (tokens); rotary tables are sized to it."""
    dropout: float = 0.0
    """Dropout probability (0-1) on embeddings, attention weights and residual branches."""
    tie_embeddings: bool = False
    """Share one matrix between the token embedding and the output head."""
    causal: bool = True
    """Causal self-attention (language model); False gives a bidirectional encoder."""
    rope_theta: float = 10000.0
    """Rotary position embedding base (dimensionless)."""
    norm_eps: float = 1e-5
    """Epsilon added to the mean square inside RMSNorm (dimensionless)."""

    @model_validator(mode="after")
    def _check_shapes(self) -> GPTConfig:
        for name in ("d_model", "n_layers", "n_heads", "d_ff", "vocab_size", "seq_len"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name} must be > 0, got {getattr(self, name)}")
        if self.n_kv_heads is not None and self.n_kv_heads <= 0:
            raise ValueError(f"model.n_kv_heads must be > 0, got {self.n_kv_heads}")
        if self.d_model % self.n_heads:
            raise ValueError(
                f"model.n_heads ({self.n_heads}) must divide model.d_model ({self.d_model})"
            )
        if self.n_heads % self.kv_heads:
            raise ValueError(
                f"model.n_kv_heads ({self.kv_heads}) must divide model.n_heads ({self.n_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(
                f"model.d_model / model.n_heads = {self.head_dim} must be even (rotary pairs)"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.rope_theta <= 0 or self.norm_eps <= 0:
            raise ValueError("model.rope_theta and model.norm_eps must be > 0")
        return self

    @property
    def head_dim(self) -> int:
        """Width of one attention head (features)."""
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        """Key/value heads actually used (n_kv_heads, defaulting to n_heads)."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def num_params(self) -> int:
        """Non-embedding parameters (the N of scaling laws, Kaplan et al. 2020).

        Counts every block (two RMSNorm weights, Q/K/V/O projections, SwiGLU gate/up/down)
        plus the final RMSNorm; excludes the token embedding and the output head, tied or not.
        """
        d, kv = self.d_model, self.kv_heads * self.head_dim
        attn = d * d + 2 * d * kv + d * d  # wq, wk, wv, wo
        mlp = 3 * d * self.d_ff  # gate, up, down
        return self.n_layers * (attn + mlp + 2 * d) + d

    @property
    def num_params_total(self) -> int:
        """All parameters; a tied embedding/head matrix is counted once."""
        embed = self.vocab_size * self.d_model
        return self.num_params + embed * (1 if self.tie_embeddings else 2)

    @property
    def flops_per_token(self) -> int:
        """Forward FLOPs per token, counting a multiply-add as 2 FLOPs.

        2 * num_params for the weight matmuls (norm gains included; negligible), plus attention
        scores and the weighted sum of values over the full context, 2 * 2 * n_layers * seq_len
        * d_model (the causal mask is not halved, as in Kaplan et al. and Chinchilla), plus the
        output head 2 * d_model * vocab_size. The embedding lookup is free.
        """
        attention = 2 * 2 * self.n_layers * self.seq_len * self.d_model
        head = 2 * self.d_model * self.vocab_size
        return 2 * self.num_params + attention + head

    @property
    def train_flops_per_token(self) -> int:
        """Forward plus backward FLOPs per token (3 x forward)."""
        return int(training_flops(self, 1))

    def build(self) -> GPT:
        """Instantiate the module with freshly initialised weights."""
        return GPT(self)


class RMSNorm(nn.Module):
    """Root-mean-square normalisation with a learned gain and no bias."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 so low-precision activations do not lose the mean square.
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rotary_tables(seq_len: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine and signed sine tables, each (seq_len, head_dim), for the rotate-half form.

    The sine's first half is negated here, once, so `apply_rotary` needs no negation per call.
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)  # (hs/2,)
    angles = torch.outer(torch.arange(seq_len).float(), inv_freq)  # (T, hs/2)
    sin = angles.sin()
    return torch.cat([angles, angles], dim=-1).cos(), torch.cat([-sin, sin], dim=-1)  # (T, hs)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, nh, T, hs) by position; cos and the signed sin are (T, hs).

    x * cos + (-x2, x1) * sin as one fused multiply-add: at the small head widths of a
    scaling ladder this runs on every layer twice a step and is overhead-bound (measured
    15-40 % faster than the five-op form, equal to float rounding).
    """
    x1, x2 = x.chunk(2, dim=-1)  # each (B, nh, T, hs/2)
    return torch.addcmul(x * cos, torch.cat([x2, x1], dim=-1), sin)


class Attention(nn.Module):
    """Multi-head (or grouped-query) self-attention with rotary positions."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        kv_dim = cfg.kv_heads * cfg.head_dim
        self.wq = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.wk = nn.Linear(cfg.d_model, kv_dim, bias=False)
        self.wv = nn.Linear(cfg.d_model, kv_dim, bias=False)
        self.wo = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.resid_dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, cfg.n_heads, cfg.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        k = self.wk(x).view(B, T, cfg.kv_heads, cfg.head_dim).transpose(1, 2)  # (B, nkv, T, hs)
        v = self.wv(x).view(B, T, cfg.kv_heads, cfg.head_dim).transpose(1, 2)  # (B, nkv, T, hs)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cfg.kv_heads != cfg.n_heads:
            # Share each K/V head across its group of query heads; an explicit repeat works on
            # every torch version, unlike SDPA's enable_gqa flag.
            group = cfg.n_heads // cfg.kv_heads
            k = k.repeat_interleave(group, dim=1)  # (B, nh, T, hs)
            v = v.repeat_interleave(group, dim=1)  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=cfg.dropout if self.training else 0.0, is_causal=cfg.causal
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, cfg.d_model)  # (B, T, C)
        return self.resid_dropout(self.wo(y))


class SwiGLU(nn.Module):
    """Gated feed-forward layer: down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.up = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.silu(self.gate(x)) * self.up(x)))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    """Token embedding, ``n_layers`` pre-norm blocks, final RMSNorm and a linear head."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.emb_dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        cos, sin = rotary_tables(cfg.seq_len, cfg.head_dim, cfg.rope_theta)
        # Non-persistent: derived from the config, so checkpoints stay weights only.
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        # Residual-branch outputs are summed n_layers * 2 times; shrink them so the residual
        # stream's variance does not grow with depth (GPT-2).
        resid_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        for block in self.blocks:
            nn.init.normal_(block.attn.wo.weight, mean=0.0, std=resid_std)
            nn.init.normal_(block.mlp.down.weight, mean=0.0, std=resid_std)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """Final-normed features (B, T, d_model) for token ids idx (B, T)."""
        T = idx.shape[1]
        if T > self.cfg.seq_len:
            raise ValueError(f"input length {T} exceeds model.seq_len ({self.cfg.seq_len})")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]  # (T, hs)
        x = self.emb_dropout(self.tok_emb(idx))  # (B, T, C)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab_size) for token ids idx (B, T)."""
        return self.lm_head(self.hidden_states(idx))
