"""ModelSpec: preset plus overrides, resolved into a concrete, validated model config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models import GPTConfig, MLPConfig, ModelSpec, from_name


def test_default_resolves_to_gpt_1m() -> None:
    spec = ModelSpec()
    assert spec.family == "gpt"
    assert spec.overrides == {}
    assert spec.resolve() == from_name("gpt-1m")


def test_overrides_replace_only_their_fields() -> None:
    cfg = ModelSpec(size="gpt-200k", n_layers=6, tie_embeddings=True, causal=False).resolve()
    base = from_name("gpt-200k")
    assert isinstance(cfg, GPTConfig)
    assert (cfg.n_layers, cfg.tie_embeddings, cfg.causal) == (6, True, False)
    assert (cfg.d_model, cfg.d_ff, cfg.n_heads) == (base.d_model, base.d_ff, base.n_heads)


def test_vocab_size_applies_to_gpt_only() -> None:
    assert ModelSpec(size="tiny").resolve(vocab_size=1000).vocab_size == 1000
    mlp = ModelSpec(size="mlp-5k", d_in=3, activation="tanh").resolve(vocab_size=1000)
    assert isinstance(mlp, MLPConfig)
    assert (mlp.d_in, mlp.activation) == (3, "tanh")


def test_alias_family_and_preset() -> None:
    spec = ModelSpec(size="large")
    assert (spec.family, spec.preset) == ("gpt", "gpt-10m")
    assert ModelSpec(size="mlp-1m").family == "mlp"


def test_unknown_size_lists_valid_names() -> None:
    with pytest.raises(
        ValueError, match=r"unknown model size 'gpt-3q'; valid: gpt-10k, gpt-20k, gpt-50k"
    ):
        ModelSpec(size="gpt-3q")


def test_inapplicable_override_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"model\.n_heads does not apply to the mlp family"):
        ModelSpec(size="mlp-1k", n_heads=4)
    with pytest.raises(ValueError, match=r"model\.activation does not apply to the gpt family"):
        ModelSpec(size="gpt-1m", activation="relu")


def test_bad_override_fails_at_load_naming_the_field() -> None:
    with pytest.raises(
        ValueError, match=r"model\.n_heads \(6\) must divide model\.d_model \(128\)"
    ):
        ModelSpec(size="gpt-1m", n_heads=6)
    with pytest.raises(ValueError, match=r"model\.activation: Input should be"):
        ModelSpec(size="mlp-1k", activation="swish")


def test_unknown_key_and_mutation_are_rejected() -> None:
    with pytest.raises(ValidationError, match="vocab_size"):
        ModelSpec.model_validate({"size": "gpt-1m", "vocab_size": 10})
    spec = ModelSpec()
    with pytest.raises(ValidationError):
        spec.size = "gpt-10m"
