"""Model families, size presets and analytic parameter/FLOP counts (pure PyTorch, no Ray).

Presets map size names to configs; a config's ``type`` tag names its family.

    import models
    cfg = models.from_name("gpt-1m", dropout=0.1)
    model = cfg.build()  # models.GPT
"""

from __future__ import annotations

from models.counting import count_params, training_flops
from models.gpt import GPT, GPTConfig
from models.mlp import MLP, MLPConfig
from models.presets import GPT_PRESETS, MLP_PRESETS, PRESETS, SIZE_ALIASES, from_name
from models.spec import ModelSpec

ModelConfig = GPTConfig | MLPConfig
"""Any model family's config; ``cfg.type`` says which."""

__all__ = [
    "GPT",
    "GPT_PRESETS",
    "MLP",
    "MLP_PRESETS",
    "PRESETS",
    "SIZE_ALIASES",
    "GPTConfig",
    "MLPConfig",
    "ModelConfig",
    "ModelSpec",
    "count_params",
    "from_name",
    "training_flops",
]
