"""Splitting generated sample sets: holdout fixed across fractions, nested fractions."""

from __future__ import annotations

import numpy as np
import pytest

from data import DataConfig
from data.samples import split_samples


def test_holdout_is_shared_and_fractions_nest():
    full = split_samples(1000, DataConfig(holdout_fraction=0.1, seed=3))
    half = split_samples(1000, DataConfig(holdout_fraction=0.1, fraction=0.5, seed=3))
    assert np.array_equal(full.eval, half.eval) and len(full.eval) == 100
    assert len(full.train) == full.pool_size == 900 and len(half.train) == 450
    assert set(half.train) <= set(full.train)
    assert not set(full.train) & set(full.eval)
    assert full.train.dtype == np.int64


def test_the_seed_picks_the_holdout():
    a = split_samples(1000, DataConfig(seed=0)).eval
    b = split_samples(1000, DataConfig(seed=1)).eval
    assert not np.array_equal(a, b)


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="at least 2 samples"):
        split_samples(1, DataConfig())
