"""Labelled token sequences for classification: which of K Markov sources wrote each sequence.

Class k's order-`order` transition table is P_k = (1 - separation) * base + separation * own_k:
a table every class shares mixed with one drawn for the class alone. separation 0 makes the
classes indistinguishable (chance accuracy), 1 makes them unrelated languages. When `base` is
the pretraining language's own table, a backbone pretrained on that language has already
learned the shared part. The Bayes-optimal accuracy is exact (`optimal_accuracy`): the ceiling
that fine-tuned accuracy scales toward.

    data = markov_sources(vocab_size=16, seq_len=32, num_classes=4, num_sequences=2048,
                          separation=0.5, concentration=0.5, seed=0)
    data.tokens.shape, data.labels.shape   # (2048, 32), (2048,)
    optimal_accuracy(data)                 # about 0.98
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from data.synthetic import MAX_TABLE_ENTRIES

# Independent random streams: tables, labels and the sequences themselves.
_TABLES, _LABELS, _TOKENS = 0, 1, 2


@dataclass(frozen=True)
class LabelledSequences:
    """Token sequences, their class labels, and the sources that generated them."""

    tokens: torch.Tensor
    """(N, T) int64 token ids."""
    labels: torch.Tensor
    """(N,) int64 class ids in [0, K)."""
    tables: np.ndarray
    """(K, V**order, V) row-stochastic transition table of each class."""
    order: int
    """Markov order: how many previous tokens each next-token distribution depends on."""


def dirichlet_rows(
    num_rows: int, vocab_size: int, concentration: float, rng: np.random.Generator
) -> np.ndarray:
    """(num_rows, vocab_size) rows drawn from a symmetric Dirichlet(concentration)."""
    # Gamma(a) = Gamma(a + 1) * U**(1 / a), taken in log space: Gamma(a) underflows for small a.
    log_g = np.log(rng.standard_gamma(concentration + 1.0, size=(num_rows, vocab_size)))
    log_g += np.log(rng.random((num_rows, vocab_size))) / concentration
    probs = np.exp(log_g - log_g.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def markov_sources(
    vocab_size: int,
    seq_len: int,
    num_classes: int,
    num_sequences: int,
    separation: float,
    concentration: float,
    seed: int,
    order: int = 1,
    base: np.ndarray | None = None,
) -> LabelledSequences:
    """`num_sequences` sequences of `seq_len` tokens, classes balanced and shuffled.

    `base` is the shared table (V**order, V); None draws one from Dirichlet(concentration).
    Each sequence starts from `order` uniform tokens, then follows its class's table.
    """
    num_states = vocab_size**order
    if num_classes * num_states * vocab_size > MAX_TABLE_ENTRIES:
        raise ValueError(
            f"task.order={order} with vocab_size={vocab_size} and {num_classes} classes needs "
            f"{num_classes * num_states * vocab_size:,} table entries (max {MAX_TABLE_ENTRIES:,})"
        )
    if seq_len <= order:
        raise ValueError(f"model.seq_len ({seq_len}) must exceed the Markov order ({order})")
    if base is not None and base.shape != (num_states, vocab_size):
        raise ValueError(
            f"base table has shape {base.shape}, expected {(num_states, vocab_size)} "
            f"for vocab_size={vocab_size} and order={order}"
        )
    rng = np.random.default_rng([seed, _TABLES])
    shared = dirichlet_rows(num_states, vocab_size, concentration, rng) if base is None else base
    own = [dirichlet_rows(num_states, vocab_size, concentration, rng) for _ in range(num_classes)]
    tables = np.stack([(1 - separation) * shared + separation * t for t in own])  # (K, S, V)

    labels = np.random.default_rng([seed, _LABELS]).permutation(
        np.arange(num_sequences) % num_classes
    )  # (N,)
    rng = np.random.default_rng([seed, _TOKENS])
    tokens = np.empty((num_sequences, seq_len), dtype=np.int64)  # (N, T)
    tokens[:, :order] = rng.integers(0, vocab_size, (num_sequences, order))
    state = np.zeros(num_sequences, dtype=np.int64)  # context id in base V, oldest first
    for i in range(order):
        state = state * vocab_size + tokens[:, i]
    cdf = np.cumsum(tables, axis=2)  # (K, S, V)
    cdf[..., -1] = 1.0
    for t in range(order, seq_len):
        u = rng.random(num_sequences)  # (N,)
        nxt = (cdf[labels, state] <= u[:, None]).sum(axis=1)  # (N, V) -> (N,)
        np.minimum(nxt, vocab_size - 1, out=nxt)  # guards u rounding onto a row's final 1.0
        tokens[:, t] = nxt
        state = (state * vocab_size) % num_states + nxt
    return LabelledSequences(
        tokens=torch.from_numpy(tokens),
        labels=torch.from_numpy(labels.astype(np.int64)),
        tables=tables,
        order=order,
    )


def log_likelihoods(data: LabelledSequences, tokens: torch.Tensor | None = None) -> np.ndarray:
    """(N, K) log-probability of each sequence under each class's source (first tokens free)."""
    seqs = (data.tokens if tokens is None else tokens).numpy()  # (N, T)
    num_classes, num_states, vocab_size = data.tables.shape
    k = data.order
    state = np.zeros((seqs.shape[0], seqs.shape[1] - k), dtype=np.int64)  # (N, T - k)
    for i in range(k):
        state = state * vocab_size + seqs[:, i : seqs.shape[1] - k + i]
    with np.errstate(divide="ignore"):
        log_tables = np.log(data.tables)  # (K, S, V)
    per_token = log_tables[:, state, seqs[:, k:]]  # (K, N, T - k)
    return per_token.sum(axis=2).T


def optimal_accuracy(data: LabelledSequences, indices: np.ndarray | None = None) -> float:
    """Accuracy of the Bayes classifier (true sources, equal priors) on the chosen sequences."""
    tokens = data.tokens if indices is None else data.tokens[torch.from_numpy(indices)]
    labels = data.labels if indices is None else data.labels[torch.from_numpy(indices)]
    predicted = log_likelihoods(data, tokens).argmax(axis=1)
    return float((predicted == labels.numpy()).mean())
