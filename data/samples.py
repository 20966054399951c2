"""Holdout and data-fraction split of a set of independent samples (rows, sequences, points).

Generated data sets that are not token streams (regression rows, diffusion points, labelled
sequences) are split exactly as token chunks are: each sample is a chunk of one, so
`data.holdout_fraction`, `data.fraction`, `data.sampling` and `data.seed` mean the same thing
for every task, and a smaller fraction's samples are a subset of a larger one's.

    split = split_samples(10_000, DataConfig(fraction=0.25))
    len(split.train), len(split.eval)     # 2375, 500
    x_train = x[torch.from_numpy(split.train)]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.config import DataConfig
from data.sampling import plan_chunks


@dataclass(frozen=True)
class SampleSplit:
    """Indices (ascending, int64) into a generated data set."""

    train: np.ndarray
    """The sampled fraction of the non-holdout samples."""
    eval: np.ndarray
    """The holdout samples (the same for every fraction)."""
    pool_size: int
    """Non-holdout samples before the fraction was taken."""


def split_samples(num_samples: int, cfg: DataConfig) -> SampleSplit:
    """Seeded holdout then fraction sample of `num_samples` samples, as `cfg` says."""
    if num_samples < 2:
        raise ValueError(f"a data set needs at least 2 samples to split, got {num_samples}")
    plan = plan_chunks(num_samples, 1, cfg.holdout_fraction, cfg.fraction, cfg.sampling, cfg.seed)
    return SampleSplit(
        train=plan.train_ids.astype(np.int64),
        eval=plan.eval_ids.astype(np.int64),
        pool_size=len(plan.pool_ids),
    )
