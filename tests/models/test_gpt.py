"""GPTConfig validation and counts, and the GPT module's shapes, masking and trainability."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from models.gpt import GPT, GPTConfig


def _cfg(**kw) -> GPTConfig:
    base = dict(d_model=32, n_layers=2, n_heads=4, d_ff=96, seq_len=16, vocab_size=64)
    return GPTConfig(**{**base, **kw})


def _non_embedding(model: GPT) -> int:
    return sum(
        p.numel()
        for name, p in model.named_parameters()
        if not name.startswith(("tok_emb.", "lm_head."))
    )


@pytest.mark.parametrize(
    "kw", [{}, {"tie_embeddings": True}, {"n_kv_heads": 2}, {"n_kv_heads": 1, "causal": False}]
)
def test_counts_match_built_model(kw: dict) -> None:
    cfg = _cfg(**kw)
    model = cfg.build()
    assert cfg.num_params_total == sum(p.numel() for p in model.parameters())
    assert cfg.num_params == _non_embedding(model)


def test_tied_embeddings_counted_once() -> None:
    untied, tied = _cfg(), _cfg(tie_embeddings=True)
    model = tied.build()
    assert model.lm_head.weight is model.tok_emb.weight
    assert tied.num_params == untied.num_params
    assert untied.num_params_total - tied.num_params_total == 64 * 32


def test_gqa_shapes() -> None:
    cfg = _cfg(n_heads=4, n_kv_heads=2)
    model = cfg.build()
    attn = model.blocks[0].attn
    assert attn.wq.weight.shape == (32, 32)
    assert attn.wk.weight.shape == (2 * 8, 32)  # 2 kv heads of width 8
    assert attn.wv.weight.shape == (2 * 8, 32)
    assert model(torch.randint(0, 64, (2, 10))).shape == (2, 10, 64)


def test_forward_and_hidden_state_shapes() -> None:
    model = _cfg().build()
    idx = torch.randint(0, 64, (3, 16))
    assert model(idx).shape == (3, 16, 64)
    assert model.hidden_states(idx).shape == (3, 16, 32)


def test_input_longer_than_seq_len_is_rejected() -> None:
    model = _cfg().build()
    with pytest.raises(ValueError, match=r"model\.seq_len \(16\)"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("causal", [True, False])
def test_causal_mask(causal: bool) -> None:
    torch.manual_seed(0)
    model = _cfg(causal=causal).build().eval()
    idx = torch.randint(0, 64, (1, 12))
    changed = idx.clone()
    changed[0, 8] = (idx[0, 8] + 1) % 64
    with torch.no_grad():
        before, after = model(idx), model(changed)
    assert not torch.allclose(before[0, 8:], after[0, 8:])
    # Positions before the edit see it only without the causal mask.
    assert torch.allclose(before[0, :8], after[0, :8]) == causal


def test_rotary_makes_attention_position_aware() -> None:
    torch.manual_seed(0)
    model = _cfg(causal=False).build().eval()
    idx = torch.tensor([[5, 7, 5, 7, 5, 7]])
    with torch.no_grad():
        logits = model(idx)
    # Same token, different position: without positions a bidirectional model would match.
    assert not torch.allclose(logits[0, 0], logits[0, 2])


def test_few_steps_reduce_loss_on_repeated_sequence() -> None:
    torch.manual_seed(0)
    model = _cfg().build()
    idx = torch.arange(16).repeat(4, 1) % 8  # (4, 16), period-8 pattern
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        logits = model(idx[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 64), idx[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_residual_projections_use_scaled_init() -> None:
    torch.manual_seed(0)
    cfg = GPTConfig(d_model=128, n_layers=8, n_heads=4, d_ff=352)
    block = cfg.build().blocks[0]
    assert block.attn.wq.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert block.attn.wo.weight.std().item() == pytest.approx(0.02 / 4, rel=0.05)
    assert block.mlp.down.weight.std().item() == pytest.approx(0.02 / 4, rel=0.05)


def test_flops_by_hand() -> None:
    cfg = GPTConfig(d_model=32, n_layers=2, n_heads=4, d_ff=96, vocab_size=256, seq_len=64)
    # Per block: 2 norms (64) + q,k,v,o (4 * 32 * 32 = 4096) + SwiGLU (3 * 32 * 96 = 9216).
    assert cfg.num_params == 2 * (64 + 4096 + 9216) + 32 == 26784
    assert cfg.num_params_total == 26784 + 2 * 256 * 32
    # 2N + attention 2*2*L*T*d (= 16384) + head 2*d*V (= 16384).
    assert cfg.flops_per_token == 2 * 26784 + 16384 + 16384 == 86336
    assert cfg.train_flops_per_token == 3 * 86336


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"d_model": 64, "n_heads": 6}, r"model\.n_heads \(6\) must divide model\.d_model \(64\)"),
        ({"n_kv_heads": 3}, r"model\.n_kv_heads \(3\) must divide model\.n_heads \(4\)"),
        ({"d_model": 12, "n_heads": 4}, r"must be even"),
        ({"dropout": 1.0}, r"model\.dropout"),
        ({"n_layers": 0}, r"model\.n_layers must be > 0"),
        ({"vocab_size": -1}, r"model\.vocab_size must be > 0"),
    ],
)
def test_invalid_configs_name_the_field(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _cfg(**kw)


def test_config_is_frozen_and_strict() -> None:
    cfg = _cfg()
    with pytest.raises(ValidationError):
        cfg.d_model = 64
    with pytest.raises(ValidationError, match="n_head"):
        _cfg(n_head=4)
