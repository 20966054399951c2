"""Labelled Markov-source sequences: balance, seeds, separation and the Bayes ceiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data.labelled import markov_sources, optimal_accuracy
from data.synthetic import transition_matrix


def _make(**kw):
    args = dict(
        vocab_size=8,
        seq_len=24,
        num_classes=3,
        num_sequences=1200,
        separation=0.5,
        concentration=0.5,
        seed=0,
    )
    return markov_sources(**{**args, **kw})


def test_shapes_balance_and_seeds():
    data = _make()
    assert data.tokens.shape == (1200, 24) and data.labels.shape == (1200,)
    assert int(data.tokens.max()) < 8 and data.tokens.dtype == torch.int64
    assert torch.bincount(data.labels).tolist() == [400, 400, 400]
    assert np.allclose(data.tables.sum(axis=2), 1.0)
    assert torch.equal(data.tokens, _make().tokens)
    assert not torch.equal(data.tokens, _make(seed=1).tokens)


def test_separation_sets_how_learnable_the_labels_are():
    hard, easy = optimal_accuracy(_make(separation=0.05)), optimal_accuracy(_make(separation=1.0))
    assert 1 / 3 - 0.05 < hard < easy and easy > 0.95


def test_sequences_follow_their_class_table():
    data = _make(num_classes=2, separation=1.0, num_sequences=4000, seq_len=64)
    seqs, labels = data.tokens.numpy(), data.labels.numpy()
    for k in range(2):
        pairs = np.stack([seqs[labels == k, :-1].ravel(), seqs[labels == k, 1:].ravel()])
        counts = np.zeros((8, 8))
        np.add.at(counts, (pairs[0], pairs[1]), 1)
        empirical = counts / counts.sum(axis=1, keepdims=True)
        assert np.abs(empirical - data.tables[k]).max() < 0.05


def test_a_given_base_table_is_shared():
    base = transition_matrix(8, 2, 0.3, 5)
    data = _make(order=2, base=base, separation=0.25)
    assert data.order == 2 and data.tables.shape == (3, 64, 8)
    own = (data.tables - 0.75 * base) / 0.25
    assert np.allclose(own.sum(axis=2), 1.0) and own.min() >= -1e-12


def test_mistakes_are_errors():
    with pytest.raises(ValueError, match="must exceed the Markov order"):
        _make(seq_len=1)
    with pytest.raises(ValueError, match="base table has shape"):
        _make(base=np.full((4, 4), 0.25))
    with pytest.raises(ValueError, match="task.order=4 .* table entries"):
        _make(vocab_size=64, order=4)
