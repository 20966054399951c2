"""A GPT shape for any parameter count: valid, counted exactly, near its target, on the ladder."""

from __future__ import annotations

import math

import pytest

from models import GPTConfig, ModelSpec
from models.shapes import MIN_PARAMS, aspect_ratio, count, gpt_shape, shape_label

TARGETS = [3e3, 1e4, 2.5e4, 7e4, 1.5e5, 3e5, 6e5, 1.2e6, 3e6, 8e6, 2e7]


def _non_embedding(cfg: GPTConfig) -> int:
    model = cfg.build()
    return sum(
        p.numel() for n, p in model.named_parameters() if not n.startswith(("tok_emb.", "lm_head."))
    )


@pytest.mark.parametrize("target", TARGETS[:9])
def test_derived_shape_builds_and_counts_equal_numel(target: float) -> None:
    cfg = GPTConfig(**gpt_shape(target))
    assert cfg.num_params == _non_embedding(cfg) == count(cfg.d_model, cfg.n_layers, cfg.d_ff)
    assert cfg.num_params_total == sum(p.numel() for p in cfg.build().parameters())


@pytest.mark.parametrize("target", TARGETS[1:])
def test_derived_count_is_near_its_target(target: float) -> None:
    # Widths move in steps of 8-32, depth in whole layers and the MLP width in steps of 8: the
    # worst miss measured over 1e4..1e9 is 7.8 % below 1e5, 2 % below 1e6, 0.7 % above.
    got = GPTConfig(**gpt_shape(target)).num_params
    assert got == pytest.approx(target, rel=0.08 if target < 1e5 else 0.02)


def test_sizes_an_isoflop_grid_asks_for_stay_distinct() -> None:
    # Sizes 1.2x apart (finer than any auto grid) map to distinct shapes from 1e4 up: before the
    # MLP width could move, neighbouring targets below 1e5 collided on one shape.
    targets = [1e4 * 1.2**k for k in range(26)]
    counts = [GPTConfig(**gpt_shape(t)).num_params for t in targets]
    assert len(set(counts)) == len(counts)


def test_depth_grows_slower_than_width_as_in_the_presets() -> None:
    shapes = [gpt_shape(n) for n in (1e4, 1e5, 1e6, 1e7)]
    aspects = [s["d_model"] / s["n_layers"] for s in shapes]
    assert aspects[-1] > 3 * aspects[0]
    assert all(s["n_layers"] >= 2 for s in shapes)
    # At the presets' own sizes the rule lands on (or next to) the preset shape.
    assert gpt_shape(1e6)["d_model"] == 128 and gpt_shape(1e6)["n_layers"] == 5
    assert aspect_ratio(1e6) == pytest.approx(25.3, rel=0.01)


def test_heads_are_a_quarter_of_the_width_wide_where_they_divide() -> None:
    for target in TARGETS:
        shape = gpt_shape(target)
        head = shape["d_model"] // shape["n_heads"]
        assert head in (8, 16, 32, 64)
        assert head <= max(8, 2 ** math.ceil(math.log2(shape["d_model"] / 4)))


def test_too_small_or_nan_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="model.params must be >= "):
        gpt_shape(MIN_PARAMS / 2)
    with pytest.raises(ValueError, match="model.params"):
        gpt_shape(float("nan"))


def test_model_spec_by_params_resolves_to_the_derived_shape() -> None:
    spec = ModelSpec(params=3e5, seq_len=64)
    cfg = spec.resolve(vocab_size=100)
    assert (cfg.d_model, cfg.n_layers) == (gpt_shape(3e5)["d_model"], gpt_shape(3e5)["n_layers"])
    assert cfg.seq_len == 64 and cfg.vocab_size == 100
    assert spec.family == "gpt" and spec.label == shape_label(cfg.num_params) == "gpt-n303k"
    # A dumped spec (size written back at its default) loads again.
    assert ModelSpec.model_validate(spec.model_dump()).resolve() == spec.resolve()


def test_model_spec_refuses_size_and_params_together() -> None:
    with pytest.raises(ValueError, match="model.params and model.size both set"):
        ModelSpec(size="gpt-50k", params=1e5)
