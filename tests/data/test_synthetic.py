"""The synthetic Markov language: analytic entropy rate, determinism, stationarity."""

from __future__ import annotations

import numpy as np
import pytest

from data.config import SyntheticConfig
from data.synthetic import (
    generate,
    stationary_distribution,
    synthetic_entropy_rate,
    transition_matrix,
)


def empirical_entropy_rate(tokens: np.ndarray, vocab: int, order: int) -> float:
    """Plug-in estimate of H(X_t | previous `order` tokens) from (context, next) counts."""
    t = tokens.astype(np.int64)
    ctx = np.zeros(len(t) - order, dtype=np.int64)
    for i in range(order):
        ctx = ctx * vocab + t[i : len(t) - order + i]
    counts = np.bincount(ctx * vocab + t[order:], minlength=vocab ** (order + 1))
    counts = counts.reshape(-1, vocab).astype(np.float64)  # (contexts, next)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.where(counts > 0, counts * np.log(totals / counts), 0.0)
    return float(cond.sum() / counts.sum())


def test_empirical_entropy_matches_analytic_rate():
    cfg = SyntheticConfig(vocab_size=16, order=2, concentration=0.5, num_tokens=2_000_000)
    tokens = generate(cfg)
    assert tokens.shape == (2_000_000,) and tokens.dtype == np.uint8
    assert tokens.max() < 16
    analytic = cfg.entropy_rate_nats
    assert 0.5 < analytic < np.log(16)
    assert abs(empirical_entropy_rate(tokens, 16, 2) - analytic) / analytic < 0.01


def test_concentration_orders_entropy():
    rates = [
        synthetic_entropy_rate(SyntheticConfig(vocab_size=32, order=1, concentration=a))
        for a in (0.05, 0.5, 5.0)
    ]
    assert rates[0] < rates[1] < rates[2] < np.log(32)


def test_stationary_distribution_is_fixed_point():
    probs = transition_matrix(4, 2, 0.3, 7)  # (16, 4)
    pi = stationary_distribution(probs)
    nxt = (pi[:, None] * probs).reshape(4, 4, 4).sum(axis=0).ravel()
    np.testing.assert_allclose(nxt, pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0)


def test_generation_is_deterministic_and_seeded():
    cfg = SyntheticConfig(vocab_size=8, order=1, num_tokens=5000, seed=3)
    np.testing.assert_array_equal(generate(cfg), generate(cfg))
    other = generate(cfg.model_copy(update={"seed": 4}))
    assert not np.array_equal(generate(cfg), other)


def test_large_vocab_uses_wider_dtype():
    tokens = generate(SyntheticConfig(vocab_size=300, order=1, num_tokens=3000))
    assert tokens.dtype == np.uint16 and tokens.max() < 300


def test_oversized_table_is_rejected():
    with pytest.raises(ValueError, match="data.dataset.order=4"):
        SyntheticConfig(vocab_size=256, order=4)
