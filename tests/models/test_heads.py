"""Task heads: the pooled sequence model's counts and pooling, and the timestep denoiser."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models import GPTConfig, MLPConfig
from models.heads import (
    Denoiser,
    PooledHead,
    SequenceModel,
    sequence_model_flops_per_token,
    sequence_model_params,
    timestep_embedding,
)


def _cfg(**kw) -> GPTConfig:
    return GPTConfig(d_model=16, n_layers=2, n_heads=2, d_ff=32, seq_len=8, vocab_size=12, **kw)


@pytest.mark.parametrize("tie", [False, True])
def test_sequence_model_counts_match_the_module(tie):
    cfg = _cfg(tie_embeddings=tie)
    model = SequenceModel(cfg, d_out=3)
    params, total = sequence_model_params(cfg, 3)
    assert total == sum(p.numel() for p in model.parameters())
    assert params == sum(p.numel() for n, p in model.named_parameters() if "tok_emb" not in n)
    assert isinstance(model.backbone.lm_head, nn.Identity)
    assert "backbone.lm_head.weight" not in model.state_dict()


def test_flops_drop_the_lm_head_and_add_the_pooled_head():
    cfg = _cfg()
    expected = cfg.flops_per_token - 2 * 16 * 12 + 2 * 16 * 3 // 8
    assert sequence_model_flops_per_token(cfg, 3) == expected


def test_outputs_and_pooling():
    torch.manual_seed(0)
    model = SequenceModel(_cfg(), d_out=3, pooling="last")
    idx = torch.randint(0, 12, (4, 8))
    assert model(idx).shape == (4, 3)
    # A zero head predicts nothing at start: uniform logits for classification, 0 for regression.
    assert torch.equal(model(idx), torch.zeros(4, 3))
    head = PooledHead(2, 1, pooling="mean")
    with torch.no_grad():
        head.proj.weight.fill_(1.0)
    h = torch.tensor([[[1.0, 0.0], [3.0, 2.0]]])  # (B=1, T=2, C=2)
    assert head(h).item() == pytest.approx(3.0)  # mean (2, 1) summed
    with pytest.raises(ValueError, match="task.pooling"):
        PooledHead(2, 1, pooling="max")


def test_last_pooling_of_a_causal_backbone_sees_the_whole_sequence():
    torch.manual_seed(0)
    model = SequenceModel(_cfg(), d_out=2, pooling="last")
    nn.init.normal_(model.head.proj.weight)
    a = torch.randint(0, 12, (1, 8))
    b = a.clone()
    b[0, 0] = (a[0, 0] + 1) % 12
    assert not torch.allclose(model(a), model(b))


def test_timestep_embedding_is_distinct_per_step():
    emb = timestep_embedding(torch.arange(50), 9)
    assert emb.shape == (50, 9) and bool((emb[:, -1] == 0).all())  # odd width: a zero pad
    assert torch.cdist(emb, emb).add(torch.eye(50)).min() > 1e-3


def test_denoiser_wraps_an_mlp_of_data_plus_embedding_width():
    cfg = MLPConfig(d_in=2 + 6, d_model=16, n_layers=2, d_out=2)
    model = Denoiser(cfg, data_dim=2)
    assert sum(p.numel() for p in model.parameters()) == cfg.num_params
    out = model(torch.randn(5, 2), torch.arange(5))
    assert out.shape == (5, 2)
    with pytest.raises(ValueError, match=r"model.d_in \(2\) must exceed"):
        Denoiser(MLPConfig(d_in=2, d_model=8, n_layers=1, d_out=2), data_dim=2)
