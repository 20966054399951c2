"""LoRA adapters: exact at start, scaled by alpha / rank, and the only trainable weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models import GPTConfig
from trainers.lora import LoRALinear, apply_lora, lora_parameters
from trainers.tasks import LoRAConfig


def _gpt() -> nn.Module:
    torch.manual_seed(0)
    return GPTConfig(d_model=16, n_layers=2, n_heads=2, d_ff=32, seq_len=8, vocab_size=11).build()


def test_adapter_starts_as_the_base_layer_and_scales_by_alpha_over_rank():
    base = nn.Linear(6, 5)
    layer = LoRALinear(base, rank=2, alpha=8.0)
    x = torch.randn(3, 6)
    assert torch.equal(layer(x), base(x))  # B = 0
    with torch.no_grad():
        layer.lora_b.fill_(1.0)
    expected = base(x) + 4.0 * (x @ layer.lora_a.T @ layer.lora_b.T)
    assert torch.allclose(layer(x), expected)
    assert not base.weight.requires_grad and layer.lora_a.requires_grad


def test_apply_lora_wraps_the_named_layers_and_freezes_the_rest():
    model = _gpt()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randint(0, 11, (2, 8))
    out_before = model(x)
    wrapped = apply_lora(model, LoRAConfig(rank=2, target_modules=("wq", "down")))
    assert wrapped == [
        "blocks.0.attn.wq",
        "blocks.0.mlp.down",
        "blocks.1.attn.wq",
        "blocks.1.mlp.down",
    ]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(lora_parameters(model)) and len(trainable) == 8
    assert torch.equal(model(x), out_before)  # adapted model starts exactly at the backbone
    after = model.state_dict()
    assert torch.equal(after["blocks.0.attn.wq.base.weight"], before["blocks.0.attn.wq.weight"])


def test_a_gradient_step_moves_only_the_adapters():
    model = _gpt()
    apply_lora(model, LoRAConfig(rank=2))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randint(0, 11, (2, 8))).square().mean().backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    adapters = set(lora_parameters(model))
    # B starts at zero, so the first step moves every B (A's gradient is B-weighted: zero).
    assert changed == {n for n in adapters if n.endswith("lora_b")}
    assert all(p.grad is None for n, p in model.named_parameters() if n not in adapters)


def test_no_matching_layer_is_an_error():
    with pytest.raises(ValueError, match="task.lora.target_modules: none of"):
        apply_lora(nn.Sequential(nn.Linear(2, 2)), LoRAConfig(target_modules=("wq",)))
