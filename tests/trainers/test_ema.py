"""EMA of weights: the update rule with its warm-up, the eval swap, and its saved state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainers.ema import EMA


def _model() -> nn.Module:
    model = nn.Linear(3, 2)
    model.bias.requires_grad_(False)  # frozen parameters are not averaged
    return model


def test_update_follows_the_warmed_up_decay():
    model = _model()
    ema = EMA(model, decay=0.99)
    assert ema.names == ["weight"]
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    ema.update(model)
    assert torch.allclose(ema.shadow[0], 0.1 * start + 0.9 * model.weight)
    ema.num_updates = 10_000
    assert ema.current_decay() == 0.99


def test_applied_swaps_in_the_average_and_restores_the_raw_weights():
    model = _model()
    ema = EMA(model, decay=0.5)
    raw = model.weight.detach().clone()
    with torch.no_grad():
        ema.shadow[0].fill_(7.0)
    with ema.applied(model):
        assert bool((model.weight == 7.0).all())
    assert torch.equal(model.weight, raw)


def test_state_round_trips_and_rejects_other_models():
    model = _model()
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        model.weight.mul_(2)
    ema.update(model)
    copy = EMA(_model(), decay=0.9)
    copy.load_state_dict(ema.state_dict())
    assert torch.equal(copy.shadow[0], ema.shadow[0]) and copy.num_updates == 1
    with pytest.raises(ValueError, match="EMA weights do not match"):
        EMA(nn.Linear(3, 2), decay=0.9).load_state_dict(ema.state_dict())
