"""A seeded random order-k Markov language whose entropy rate (the irreducible loss) is known.

Each of the vocab_size**order contexts gets a next-token distribution drawn from a symmetric
Dirichlet(concentration): small concentrations give peaky, predictable rows (low entropy), large
ones near-uniform rows (entropy close to log vocab_size). A perfect model's loss on this language
is the entropy rate, so a scaling fit's floor E should recover it.

    cfg = SyntheticConfig(vocab_size=16, order=2, concentration=0.3, num_tokens=100_000)
    tokens = generate(cfg)                  # (100_000,) uint8 token ids
    floor = synthetic_entropy_rate(cfg)     # nats/token
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from data.config import SyntheticConfig

MAX_TABLE_ENTRIES = 2**24
"""Largest vocab_size**(order + 1) accepted: the transition table is held in memory (float64)."""
_CHAIN_MIN_LEN = 1024
_MAX_CHAINS = 256
_ROW_SCAN_MAX_VOCAB = 256


def token_dtype(vocab_size: int) -> np.dtype:
    """Smallest unsigned dtype that holds ids below vocab_size (what caches store)."""
    if vocab_size <= 2**8:
        return np.dtype(np.uint8)
    if vocab_size <= 2**16:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


@functools.lru_cache(maxsize=2)
def transition_matrix(vocab_size: int, order: int, concentration: float, seed: int) -> np.ndarray:
    """Row-stochastic table P, shape (V**order, V): P[s, x] = p(next = x | context s).

    Context s encodes the last `order` tokens in base V, oldest token most significant.
    """
    num_states = vocab_size**order
    rng = np.random.default_rng([seed, 0])
    # Dirichlet via normalised Gamma(alpha) draws, taken in log space because Gamma(alpha)
    # underflows to 0 for small alpha: Gamma(a) = Gamma(a + 1) * U**(1 / a).
    log_g = np.log(rng.standard_gamma(concentration + 1.0, size=(num_states, vocab_size)))
    log_g += np.log(rng.random((num_states, vocab_size))) / concentration  # (S, V)
    log_g -= log_g.max(axis=1, keepdims=True)
    probs = np.exp(log_g)
    probs /= probs.sum(axis=1, keepdims=True)
    probs.setflags(write=False)
    return probs


def stationary_distribution(
    probs: np.ndarray, tol: float = 1e-13, max_iter: int = 20_000
) -> np.ndarray:
    """Stationary distribution (S,) of the context chain s -> (s mod V**(k-1)) * V + x.

    Power iteration from uniform; every row is strictly positive, so the chain is irreducible and
    aperiodic and the iteration converges geometrically.
    """
    num_states, vocab_size = probs.shape
    pi = np.full(num_states, 1.0 / num_states)
    for _ in range(max_iter):
        # Split s = a * V**(k-1) + r; the next context is r * V + x, so sum over the dropped
        # oldest token a: (V, S/V, V) -> (S/V, V) -> flat (S,).
        flow = pi[:, None] * probs  # (S, V)
        new = flow.reshape(vocab_size, num_states // vocab_size, vocab_size).sum(axis=0).ravel()
        new /= new.sum()
        delta = np.abs(new - pi).sum()
        pi = new
        if delta < tol:
            break
    return pi


def row_entropies(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a row-stochastic table, (S, V) -> (S,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, -probs * np.log(probs), 0.0)
    return terms.sum(axis=1)


def _language(cfg: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
    probs = transition_matrix(cfg.vocab_size, cfg.order, cfg.concentration, cfg.seed)
    return probs, _stationary_cached(cfg.vocab_size, cfg.order, cfg.concentration, cfg.seed)


@functools.lru_cache(maxsize=2)
def _stationary_cached(vocab_size: int, order: int, concentration: float, seed: int) -> np.ndarray:
    return stationary_distribution(transition_matrix(vocab_size, order, concentration, seed))


def synthetic_entropy_rate(cfg: SyntheticConfig) -> float:
    """Entropy rate in nats/token: sum over contexts s of pi(s) * H(P[s]).

    pi is the stationary distribution of the context chain (power iteration, see
    `stationary_distribution`) and H(P[s]) the entropy of context s's next-token row. For a
    stationary order-k Markov source this equals lim H(X_t | X_<t), the best achievable loss.
    """
    probs, pi = _language(cfg)
    return float(pi @ row_entropies(probs))


def generate(cfg: SyntheticConfig) -> np.ndarray:
    """Sample cfg.num_tokens tokens (1-D, `token_dtype(vocab_size)`) from the language.

    Runs up to 256 independent chains side by side (vectorised over chains), each started from
    the stationary distribution so every position is a stationary draw, and concatenates them.
    Each chain join is one transition not drawn from the table; the joins add at most
    256 * max(-log p) / num_tokens nats to an empirical entropy estimate, which matters only for
    nearly deterministic languages (tiny concentration).
    """
    probs, pi = _language(cfg)
    num_states, vocab = probs.shape
    n, k = cfg.num_tokens, cfg.order
    num_chains = max(1, min(_MAX_CHAINS, n // _CHAIN_MIN_LEN))
    length = max(math.ceil(n / num_chains), k + 1)
    rng = np.random.default_rng([cfg.seed, 1])

    cdf = np.cumsum(probs, axis=1)  # (S, V)
    cdf[:, -1] = 1.0
    # Offsetting row s's CDF by s makes the whole table one increasing array, so one
    # searchsorted samples every chain's next token at once; for small vocabularies comparing
    # against the gathered rows is faster still (contiguous reads, no binary search).
    flat_cdf = None if vocab <= _ROW_SCAN_MAX_VOCAB else (cdf + np.arange(num_states)[:, None])
    flat_cdf = None if flat_cdf is None else flat_cdf.ravel()  # (S * V,)

    start_cdf = np.cumsum(pi)
    start = rng.random(num_chains) * start_cdf[-1]
    state = np.minimum(np.searchsorted(start_cdf, start), num_states - 1)  # (C,)
    out = np.empty((length, num_chains), dtype=np.int64)  # (L, C): row t = every chain's token t
    for i in range(k):
        out[i] = (state // vocab ** (k - 1 - i)) % vocab
    uniforms = rng.random((length - k, num_chains))  # (L - k, C)
    for t in range(k, length):
        u = uniforms[t - k]  # (C,)
        if flat_cdf is None:
            nxt = (cdf[state] <= u[:, None]).sum(axis=1)  # (C, V) -> (C,)
        else:
            nxt = np.searchsorted(flat_cdf, state + u, side="right") - state * vocab
        np.minimum(nxt, vocab - 1, out=nxt)  # guards u rounding onto a row's final 1.0
        out[t] = nxt
        state = (state * vocab) % num_states + nxt
    return out.T.ravel()[:n].astype(token_dtype(vocab))
