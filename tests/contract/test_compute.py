"""One definition of training compute: the planner, the trainers and the analysis agree."""

from __future__ import annotations

import pytest

from contract.compute import approx_training_flops, tokens_for_budget, training_flops
from models import from_name
from models.counting import training_flops as model_training_flops


def test_training_flops_is_three_forward_passes() -> None:
    assert training_flops(1000, 50) == 150_000
    assert tokens_for_budget(150_000, 1000) == pytest.approx(50)


@pytest.mark.parametrize("size", ["gpt-10k", "gpt-1m", "mlp-1k"])
def test_models_use_the_contract(size: str) -> None:
    cfg = from_name(size)
    assert model_training_flops(cfg, 4096) == training_flops(cfg.flops_per_token, 4096)


def test_six_nd_is_only_an_approximation_below_the_true_count_for_small_gpts() -> None:
    cfg = from_name("gpt-10k")
    exact = training_flops(cfg.flops_per_token, 1e6)
    assert exact > 2 * approx_training_flops(cfg.num_params, 1e6)


def test_rejects_impossible_inputs() -> None:
    with pytest.raises(ValueError, match="tokens"):
        training_flops(1000, -1)
    with pytest.raises(ValueError, match="forward_flops_per_token"):
        tokens_for_budget(1e12, 0)
