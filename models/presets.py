"""Named model sizes for scaling sweeps, and ``from_name`` to build a config from a name.

A preset's name carries its non-embedding parameter count (within ~30%); the GPT ladder spans
10k to 10m parameters, all trainable on a CPU at the default 128-token context.

    from models.presets import from_name
    cfg = from_name("gpt-1m", dropout=0.1)  # GPTConfig
    cfg = from_name("small")                 # an alias for gpt-500k
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from contract.errors import validation_line
from models.gpt import GPTConfig
from models.mlp import MLPConfig


def swiglu_width(d_model: int, multiple: int = 16) -> int:
    """SwiGLU hidden width: 8/3 * d_model rounded up to ``multiple`` (same FLOPs as a 4x MLP)."""
    return math.ceil(8 * d_model / 3 / multiple) * multiple


def _gpt(d_model: int, n_layers: int, n_heads: int) -> Callable[[], GPTConfig]:
    return lambda: GPTConfig(
        d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=swiglu_width(d_model)
    )


def _mlp(d_model: int, n_layers: int) -> Callable[[], MLPConfig]:
    return lambda: MLPConfig(d_model=d_model, n_layers=n_layers)


# Head width grows 12 -> 64 with size; depth grows more slowly than width, as in the
# Kaplan/Chinchilla ladders, which keeps the smallest models from being all attention.
GPT_PRESETS: dict[str, Callable[[], GPTConfig]] = {
    "gpt-10k": _gpt(16, 3, 2),
    "gpt-20k": _gpt(24, 3, 2),
    "gpt-50k": _gpt(48, 2, 3),
    "gpt-100k": _gpt(64, 2, 4),
    "gpt-200k": _gpt(64, 4, 4),
    "gpt-500k": _gpt(96, 5, 3),
    "gpt-1m": _gpt(128, 5, 4),
    "gpt-2m": _gpt(160, 6, 5),
    "gpt-5m": _gpt(256, 6, 4),
    "gpt-10m": _gpt(320, 8, 5),
}
"""Decoder-only transformers, named by non-embedding parameter count."""

MLP_PRESETS: dict[str, Callable[[], MLPConfig]] = {
    "mlp-1k": _mlp(24, 2),
    "mlp-5k": _mlp(64, 2),
    "mlp-20k": _mlp(128, 2),
    "mlp-100k": _mlp(224, 3),
    "mlp-1m": _mlp(576, 4),
}
"""MLPs with the default 16 inputs and 1 output, named by parameter count."""

SIZE_ALIASES: dict[str, str] = {
    "tiny": "gpt-50k",
    "small": "gpt-500k",
    "medium": "gpt-2m",
    "large": "gpt-10m",
}
"""Friendly names for GPT presets."""

PRESETS: dict[str, Callable[[], GPTConfig | MLPConfig]] = {**GPT_PRESETS, **MLP_PRESETS}
"""Every preset of every family."""


def valid_names() -> list[str]:
    """All names ``from_name`` accepts: presets in size order, then aliases."""
    return [*PRESETS, *SIZE_ALIASES]


def canonical_name(name: str) -> str:
    """The preset a name or alias refers to; ValueError listing valid names if unknown."""
    name = SIZE_ALIASES.get(name, name)
    if name not in PRESETS:
        raise ValueError(f"unknown model size {name!r}; valid: {', '.join(valid_names())}")
    return name


def from_name(name: str, **overrides: Any) -> GPTConfig | MLPConfig:
    """The config of preset (or alias) ``name`` with ``overrides`` applied and re-validated.

    An override that is not a field of the preset's family raises ValueError naming it.
    """
    cfg = PRESETS[canonical_name(name)]()
    fields = type(cfg).model_fields
    for key in overrides:
        if key not in fields or key == "type":
            raise ValueError(f"model.{key} does not apply to the {cfg.type} family")
    if not overrides:
        return cfg
    try:
        return type(cfg).model_validate({**cfg.model_dump(), **overrides})
    except ValidationError as err:
        raise ValueError(validation_line(err, prefix="model.")) from None
