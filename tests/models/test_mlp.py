"""MLPConfig validation and counts, and the MLP module's shapes and trainability."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.mlp import MLPConfig


@pytest.mark.parametrize(
    "kw",
    [
        {"d_model": 8, "n_layers": 1},
        {"d_in": 4, "d_model": 32, "n_layers": 3, "d_out": 5, "activation": "tanh"},
    ],
)
def test_counts_match_built_model(kw: dict) -> None:
    cfg = MLPConfig(**kw)
    n = sum(p.numel() for p in cfg.build().parameters())
    assert cfg.num_params == cfg.num_params_total == n


def test_counts_by_hand() -> None:
    cfg = MLPConfig(d_in=16, d_model=24, n_layers=2, d_out=1)
    # (16*24 + 24) + (24*24 + 24) + (24*1 + 1)
    assert cfg.num_params == 408 + 600 + 25 == 1033
    assert cfg.flops_per_token == 2 * 1033
    assert cfg.train_flops_per_token == 6 * 1033


def test_hidden_sizes_and_forward_shape() -> None:
    cfg = MLPConfig(d_in=6, d_model=16, n_layers=3, d_out=2, activation="relu")
    assert cfg.hidden_sizes == (16, 16, 16)
    model = cfg.build()
    assert model(torch.randn(5, 6)).shape == (5, 2)
    assert model(torch.randn(3, 5, 6)).shape == (3, 5, 2)


def test_wrong_input_width_is_rejected() -> None:
    model = MLPConfig(d_in=6, d_model=8, n_layers=1).build()
    with pytest.raises(ValueError, match=r"model\.d_in is 6"):
        model(torch.randn(2, 7))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_layers": 0}, r"model\.n_layers must be > 0"),
        ({"d_out": 0}, r"model\.d_out must be > 0"),
        ({"dropout": -0.1}, r"model\.dropout"),
        ({"activation": "swish"}, r"activation"),
    ],
)
def test_invalid_configs_name_the_field(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MLPConfig(**{"d_model": 8, "n_layers": 1, **kw})


def test_few_steps_reduce_regression_loss() -> None:
    torch.manual_seed(0)
    model = MLPConfig(d_in=4, d_model=32, n_layers=2).build()
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True)  # (64, 1), a linear target
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
