"""Every preset builds and matches its analytic counts; names, aliases and from_name."""

from __future__ import annotations

import math

import pytest

from models import GPT, MLP, GPTConfig, MLPConfig
from models.presets import (
    GPT_PRESETS,
    MLP_PRESETS,
    PRESETS,
    SIZE_ALIASES,
    from_name,
    swiglu_width,
)

_SUFFIX = {"k": 1e3, "m": 1e6}


def _named_size(name: str) -> float:
    number = name.rsplit("-", 1)[1]
    return float(number[:-1]) * _SUFFIX[number[-1]]


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_builds_and_matches_counts(name: str) -> None:
    cfg = PRESETS[name]()
    model = cfg.build()
    assert isinstance(model, GPT if cfg.type == "gpt" else MLP)
    assert cfg.num_params_total == sum(p.numel() for p in model.parameters())
    non_embedding = sum(
        p.numel() for n, p in model.named_parameters() if not n.startswith(("tok_emb.", "lm_head."))
    )
    assert cfg.num_params == non_embedding
    # The name states the parameter count to within 30%.
    assert cfg.num_params == pytest.approx(_named_size(name), rel=0.3)


def test_gpt_presets_span_orders_of_magnitude_in_order() -> None:
    sizes = [f().num_params for f in GPT_PRESETS.values()]
    assert sizes == sorted(sizes)
    assert math.log10(sizes[-1] / sizes[0]) >= 2.5


def test_mlp_presets_in_order() -> None:
    sizes = [f().num_params for f in MLP_PRESETS.values()]
    assert sizes == sorted(sizes)
    assert all(isinstance(f(), MLPConfig) for f in MLP_PRESETS.values())


def test_gpt_presets_use_default_context_and_swiglu_width() -> None:
    for f in GPT_PRESETS.values():
        cfg = f()
        assert (cfg.seq_len, cfg.vocab_size) == (128, 256)
        assert cfg.d_ff == swiglu_width(cfg.d_model)
        assert 8 / 3 <= cfg.d_ff / cfg.d_model < 8 / 3 + 16 / cfg.d_model


def test_aliases_point_at_gpt_presets() -> None:
    for alias, target in SIZE_ALIASES.items():
        assert target in GPT_PRESETS
        assert from_name(alias) == GPT_PRESETS[target]()


def test_from_name_applies_overrides() -> None:
    cfg = from_name("gpt-1m", dropout=0.1, n_kv_heads=2)
    assert isinstance(cfg, GPTConfig)
    assert (cfg.dropout, cfg.n_kv_heads, cfg.d_model) == (0.1, 2, 128)


def test_from_name_unknown_lists_valid_names() -> None:
    with pytest.raises(
        ValueError, match=r"unknown model size 'gpt-3q'; valid: gpt-10k, gpt-20k, gpt-50k"
    ):
        from_name("gpt-3q")


def test_from_name_rejects_field_of_other_family() -> None:
    with pytest.raises(ValueError, match=r"^model\.n_heads does not apply to the mlp family$"):
        from_name("mlp-1k", n_heads=4)


def test_from_name_revalidates_and_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"model\.n_heads \(6\) must divide model\.d_model"):
        from_name("gpt-1m", n_heads=6)
    with pytest.raises(ValueError, match=r"^model\.d_model: Input should be a valid integer"):
        from_name("gpt-1m", d_model="wide")
