"""Batches of next-token windows from a 1-D token stream, and per-worker shards.

Training draws windows at random offsets; evaluation scores fixed windows so every evaluation
scores the same tokens, spread evenly over the held-out split: its chunks lie in corpus order,
so a prefix would score a few neighbouring files (on the stdlib corpus the first 16k held-out
tokens put a run 5 % off its loss on the whole split, and tripled the spread between seeds).

    x, y = random_windows(splits.train, seq_len=256, batch_size=16, generator=g)  # (16, 256) each
    for x, y in spread_windows(splits.eval, seq_len=256, num_windows=64, batch_size=16): ...
    local = shard(splits.train, rank=1, world_size=4)
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def _check_length(tokens: torch.Tensor, seq_len: int) -> None:
    if tokens.ndim != 1:
        raise ValueError(f"tokens must be 1-D, got shape {tuple(tokens.shape)}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if tokens.numel() < seq_len + 1:
        raise ValueError(
            f"a window needs seq_len + 1 = {seq_len + 1} tokens but the split has "
            f"{tokens.numel()}; lower model.seq_len or raise data.fraction"
        )


def _gather(
    tokens: torch.Tensor, starts: torch.Tensor, seq_len: int
) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.arange(seq_len + 1, device=tokens.device)  # (T + 1,)
    windows = tokens[starts[:, None] + offsets].long()  # (B, T + 1)
    return windows[:, :-1], windows[:, 1:]  # x, y: (B, T) each, y[t] = x[t + 1]


def random_windows(
    tokens: torch.Tensor, seq_len: int, batch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y), each (batch_size, seq_len) int64, from uniformly random start offsets.

    y is x shifted by one token (the next-token targets). `generator` fixes the draw; it must
    live on the CPU (offsets are drawn there and moved to tokens' device).
    """
    _check_length(tokens, seq_len)
    high = tokens.numel() - seq_len  # last valid start is numel - seq_len - 1
    starts = torch.randint(0, high, (batch_size,), generator=generator)  # (B,)
    return _gather(tokens, starts.to(tokens.device), seq_len)


def spread_windows(
    tokens: torch.Tensor, seq_len: int, num_windows: int, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Deterministic (x, y) batches of `num_windows` non-overlapping windows spread evenly
    over the whole stream (every one of them when it holds no more).

    An evenly spaced sample of a stream in corpus order represents all of it; the same number
    of windows taken from its start represents its first files.
    """
    _check_length(tokens, seq_len)
    if num_windows < 1:
        raise ValueError(f"num_windows must be >= 1, got {num_windows}")
    available = (tokens.numel() - 1) // seq_len  # whole non-overlapping windows with targets
    slots = torch.arange(min(num_windows, available), device=tokens.device)  # (W,)
    starts = slots * available // slots.numel() * seq_len  # (W,) evenly spaced, ascending
    for i in range(0, starts.numel(), batch_size):
        yield _gather(tokens, starts[i : i + batch_size], seq_len)


def shard(tokens: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Contiguous 1/world_size of `tokens` for data-parallel worker `rank`.

    Shards are equal-length (up to world_size - 1 trailing tokens are dropped) so every
    worker takes the same number of steps.
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"shard: need 0 <= rank < world_size, got rank={rank}, world={world_size}")
    size = tokens.numel() // world_size
    return tokens[rank * size : (rank + 1) * size]
