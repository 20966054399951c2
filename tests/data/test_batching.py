"""Next-token windows and data-parallel shards."""

from __future__ import annotations

import pytest
import torch

from data import random_windows, shard, spread_windows


def test_random_windows_shapes_and_shift():
    tokens = torch.arange(1000)
    g = torch.Generator().manual_seed(0)
    x, y = random_windows(tokens, seq_len=32, batch_size=8, generator=g)
    assert x.shape == y.shape == (8, 32) and x.dtype == y.dtype == torch.int64
    # tokens[i] == i, so each row is a run of consecutive ids and y is x + 1.
    assert torch.equal(y, x + 1)
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)
    assert int(y.max()) <= 999
    x2, _ = random_windows(tokens, 32, 8, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


def test_random_windows_reach_the_last_token():
    tokens = torch.arange(10)
    g = torch.Generator().manual_seed(0)
    _, y = random_windows(tokens, seq_len=9, batch_size=4, generator=g)
    assert torch.equal(y, torch.arange(1, 10).expand(4, 9))


def test_spread_windows_sample_the_whole_stream_evenly():
    tokens = torch.arange(1001)  # 100 whole windows of 10, each with its next-token targets
    batches = list(spread_windows(tokens, seq_len=10, num_windows=4, batch_size=3))
    assert [b[0].shape[0] for b in batches] == [3, 1]
    x = torch.cat([b[0] for b in batches])
    assert x[:, 0].tolist() == [0, 250, 500, 750]  # not the stream's first 40 tokens
    assert torch.equal(torch.cat([b[1] for b in batches]), x + 1)
    every = torch.cat([b[0] for b in spread_windows(tokens, 10, num_windows=500, batch_size=64)])
    assert torch.equal(every.flatten(), torch.arange(1000))  # asked for more: each window once
    with pytest.raises(ValueError, match="num_windows"):
        next(spread_windows(tokens, 10, num_windows=0, batch_size=2))


def test_windows_need_enough_tokens():
    with pytest.raises(ValueError, match="seq_len \\+ 1 = 11 tokens"):
        random_windows(torch.arange(10), 10, 2, torch.Generator())
    with pytest.raises(ValueError, match="seq_len \\+ 1 = 11 tokens"):
        next(spread_windows(torch.arange(10), 10, num_windows=1, batch_size=2))


def test_shard_is_contiguous_equal_and_disjoint():
    tokens = torch.arange(103)
    parts = [shard(tokens, r, 4) for r in range(4)]
    assert [p.numel() for p in parts] == [25] * 4
    assert torch.equal(torch.cat(parts), torch.arange(100))
    with pytest.raises(ValueError, match="rank=4"):
        shard(tokens, 4, 4)
