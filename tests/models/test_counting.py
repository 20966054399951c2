"""Training-FLOP formula and measured parameter counts."""

from __future__ import annotations

import pytest

from models import from_name, training_flops
from models.counting import count_params


def test_training_flops_is_three_forward_passes() -> None:
    cfg = from_name("gpt-1m")
    assert training_flops(cfg, 1000) == 3 * cfg.flops_per_token * 1000
    assert training_flops(cfg, 1) == cfg.train_flops_per_token
    assert training_flops(from_name("mlp-1k"), 10) == 3 * 2 * 1033 * 10


def test_negative_tokens_rejected() -> None:
    with pytest.raises(ValueError, match="tokens must be >= 0"):
        training_flops(from_name("gpt-20k"), -1)


def test_count_params_matches_analytic_counts_when_tied() -> None:
    cfg = from_name("gpt-20k", tie_embeddings=True)
    model = cfg.build()
    assert count_params(model) == cfg.num_params_total
    assert count_params(model, exclude=("tok_emb", "lm_head")) == cfg.num_params
