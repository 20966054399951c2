"""Chunk-level holdout split and data-fraction sampling, deterministic given the seed.

The token stream is cut into chunks of chunk_tokens (the last one may be shorter). The holdout
depends only on (number of chunks, holdout_fraction, seed), never on the fraction, so every point
of a data-size sweep is scored on the same eval tokens.

    plan = plan_chunks(num_tokens=1_000_000, chunk_tokens=2048, holdout_fraction=0.05,
                       fraction=0.25, sampling="random", seed=0)
    train = gather_chunks(tokens, plan.train_ids, 2048)   # plan.train_tokens tokens
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Distinct streams so that the holdout and the fraction sample are independent draws.
_HOLDOUT_STREAM = 0
_SAMPLE_STREAM = 1


@dataclass(frozen=True)
class ChunkPlan:
    """Which chunks (indices into the chunked stream, ascending) go where."""

    eval_ids: np.ndarray
    """Held-out chunks."""
    pool_ids: np.ndarray
    """All non-holdout chunks: the training pool before sampling."""
    train_ids: np.ndarray
    """The sampled fraction of the pool."""
    num_tokens: int
    """Length of the whole token stream."""
    chunk_tokens: int
    """Chunk length in tokens."""

    def tokens_in(self, ids: np.ndarray) -> int:
        """Number of tokens the chunks `ids` hold (only the last chunk can be short)."""
        last = math.ceil(self.num_tokens / self.chunk_tokens) - 1
        short = last * self.chunk_tokens + self.chunk_tokens - self.num_tokens
        has_last = len(ids) > 0 and int(ids[-1]) == last
        return len(ids) * self.chunk_tokens - (short if has_last else 0)

    @property
    def train_tokens(self) -> int:
        """Tokens in the train split."""
        return self.tokens_in(self.train_ids)

    @property
    def pool_tokens(self) -> int:
        """Tokens in the training pool before sampling."""
        return self.tokens_in(self.pool_ids)


def holdout_split(
    num_chunks: int, holdout_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(pool_ids, eval_ids), both ascending: a seeded max(1, round(h * n)) chunks are held out."""
    num_eval = max(1, round(holdout_fraction * num_chunks))
    perm = np.random.default_rng([seed, _HOLDOUT_STREAM]).permutation(num_chunks)
    return np.sort(perm[num_eval:]), np.sort(perm[:num_eval])


def sample_fraction(pool_ids: np.ndarray, fraction: float, sampling: str, seed: int) -> np.ndarray:
    """Ascending subset of `pool_ids` holding ceil(fraction * len(pool_ids)) chunks (at least 1).

    random: the first chunks of a seeded permutation of the pool, so for one seed a smaller
    fraction's chunks are a subset of a larger one's. interval: evenly spaced positions
    floor(i * m / take), i.e. every k-th chunk when fraction = 1/k.
    """
    m = len(pool_ids)
    # Rounding first keeps 0.1 * 1000 = 100.00000000000001 from taking 101 chunks.
    take = min(m, max(1, math.ceil(round(fraction * m, 9))))
    if sampling == "random":
        perm = np.random.default_rng([seed, _SAMPLE_STREAM]).permutation(m)
        positions = np.sort(perm[:take])
    elif sampling == "interval":
        positions = (np.arange(take) * m) // take
    else:
        raise ValueError(f"data.sampling must be random or interval, got {sampling!r}")
    return pool_ids[positions]


def plan_chunks(
    num_tokens: int,
    chunk_tokens: int,
    holdout_fraction: float,
    fraction: float,
    sampling: str,
    seed: int,
) -> ChunkPlan:
    """Holdout split then fraction sample of a stream of `num_tokens` tokens."""
    num_chunks = math.ceil(num_tokens / chunk_tokens)
    if num_chunks < 2:
        raise ValueError(
            f"data.chunk_tokens={chunk_tokens} cuts the {num_tokens}-token corpus into "
            f"{num_chunks} chunk(s); need at least 2 for a train/holdout split"
        )
    pool, held = holdout_split(num_chunks, holdout_fraction, seed)
    if len(pool) == 0:
        raise ValueError(
            f"data.holdout_fraction={holdout_fraction:g} leaves no training chunks "
            f"out of {num_chunks}"
        )
    train = sample_fraction(pool, fraction, sampling, seed)
    return ChunkPlan(held, pool, train, num_tokens, chunk_tokens)


def gather_chunks(tokens: np.ndarray, chunk_ids: np.ndarray, chunk_tokens: int) -> np.ndarray:
    """Concatenate the chunks `chunk_ids` (ascending) of `tokens` into one 1-D array."""
    return np.concatenate(
        [tokens[i * chunk_tokens : (i + 1) * chunk_tokens] for i in chunk_ids.tolist()]
    )
