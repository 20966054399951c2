"""The data pipeline of one trial: corpus -> tokens (cached) -> holdout -> fraction -> tensors.

Cache layout under the cache root: corpus/<fingerprint>.json maps a source's cheap fingerprint
to its content hash; tokens/<content hash>-<tokenizer>.npy is the tokenized corpus;
tokenizers/ holds trained BPEs. A warm call reads two small files and memory-maps the .npy.

    cfg = DataConfig(dataset=StdlibConfig(), fraction=0.1)
    count_train_tokens(cfg)          # fast after the first call: the dry-run planner uses it
    splits = build(cfg, min_train_tokens=16 * 256)   # TokenSplits(train, eval, vocab_size, ...)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from data.cache import build_lock, cache_root, load_array, read_json, save_array, write_json
from data.config import DataConfig
from data.sampling import ChunkPlan, gather_chunks, plan_chunks
from data.sources import Corpus
from data.tokenizer import TextTokenizer, get_tokenizer


@dataclass(frozen=True)
class TokenSplits:
    """Train and eval token streams of one trial."""

    train: torch.Tensor
    """(N_train,) int64 token ids of the sampled fraction, chunks in corpus order."""
    eval: torch.Tensor
    """(N_eval,) int64 token ids of the holdout chunks (the same for every fraction)."""
    vocab_size: int
    """Number of token ids the model must embed."""
    corpus_tokens: int
    """Tokens in the training pool before the fraction was sampled."""


def _content_hash(cfg: DataConfig) -> str | None:
    root = cache_root(cfg.cache_dir)
    index = read_json(root / "corpus" / f"{cfg.dataset.fingerprint()}.json")
    return index.get("content_hash") if index else None


def _cached_tokens(cfg: DataConfig, content_hash: str | None) -> np.ndarray | None:
    if content_hash is None:
        return None
    root = cache_root(cfg.cache_dir)
    return load_array(root / "tokens" / f"{content_hash}-{cfg.token_key}.npy")


def _tokenize(cfg: DataConfig, corpus: Corpus) -> np.ndarray:
    if corpus.tokens is not None:
        return corpus.tokens
    tok = get_tokenizer(
        cfg.tokenizer, cache_root(cfg.cache_dir), corpus.content_hash, lambda: corpus.docs
    )
    tokens = tok.encode_docs(corpus.docs)
    if tokens.size == 0:
        raise ValueError(f"data.dataset: the {cfg.dataset.type} corpus tokenizes to 0 tokens")
    return tokens


def load_token_stream(cfg: DataConfig) -> np.ndarray:
    """The whole tokenized corpus (1-D, read-only memory map), building the cache if cold.

    Cold builds run under a per-source lock so that trials starting together load, train and
    tokenize once; the others wait and then read the result.
    """
    root = cache_root(cfg.cache_dir)
    fingerprint = cfg.dataset.fingerprint()
    tokens = _cached_tokens(cfg, _content_hash(cfg))
    if tokens is not None:
        return tokens
    with build_lock(root, f"corpus-{fingerprint}-{cfg.token_key}"):
        tokens = _cached_tokens(cfg, _content_hash(cfg))
        if tokens is not None:
            return tokens
        corpus = cfg.dataset.build()
        # A touched-but-unchanged source gets a new fingerprint and the same content hash,
        # so the old tokenized corpus is reused.
        tokens = _cached_tokens(cfg, corpus.content_hash)
        if tokens is None:
            save_array(
                root / "tokens" / f"{corpus.content_hash}-{cfg.token_key}.npy",
                _tokenize(cfg, corpus),
            )
        index = {"content_hash": corpus.content_hash, "source": cfg.dataset.model_dump()}
        write_json(root / "corpus" / f"{fingerprint}.json", index)
    return _cached_tokens(cfg, corpus.content_hash)


def load_tokenizer(cfg: DataConfig) -> TextTokenizer:
    """The text tokenizer of a text dataset (e.g. to decode samples); never retrains."""
    if cfg.token_key == "raw":
        raise ValueError(f"data.dataset.type={cfg.dataset.type} produces token ids, not text")
    load_token_stream(cfg)  # makes sure the corpus index (and a trained BPE) exist
    content_hash = _content_hash(cfg)
    return get_tokenizer(
        cfg.tokenizer, cache_root(cfg.cache_dir), content_hash, lambda: cfg.dataset.build().docs
    )


def extra_train_tokens(cfg: DataConfig) -> np.ndarray | None:
    """Tokens of the dataset's training-only sources (stdlib ``tests_bytes``), encoded with the
    corpus's own tokenizer and cached by the sources' fingerprint; None when it has none."""
    extra_fn = getattr(cfg.dataset, "extra_train", None)
    extra = extra_fn() if extra_fn is not None else None
    if extra is None:
        return None
    root = cache_root(cfg.cache_dir)
    path = root / "tokens" / f"extra-{extra.fingerprint}-{cfg.token_key}.npy"
    tokens = load_array(path)
    if tokens is None:
        with build_lock(root, f"extra-{extra.fingerprint}-{cfg.token_key}"):
            tokens = load_array(path)
            if tokens is None:
                save_array(path, load_tokenizer(cfg).encode_docs(extra.build()))
                tokens = load_array(path)
    return tokens


def plan(cfg: DataConfig) -> ChunkPlan:
    """Which chunks are held out and which are sampled for training."""
    num_tokens = int(load_token_stream(cfg).shape[0])
    return plan_chunks(
        num_tokens, cfg.chunk_tokens, cfg.holdout_fraction, cfg.fraction, cfg.sampling, cfg.seed
    )


def count_train_tokens(cfg: DataConfig) -> int:
    """Tokens in the train split of this fraction, training-only sources included (fast once
    the corpus is cached)."""
    extra = extra_train_tokens(cfg)
    return plan(cfg).train_tokens + (0 if extra is None else int(extra.shape[0]))


def _check_enough(cfg: DataConfig, train_tokens: int, min_train_tokens: int) -> None:
    if train_tokens < min_train_tokens:
        raise ValueError(
            f"data.fraction={cfg.fraction:g} leaves {train_tokens} training tokens, "
            f"fewer than one batch ({min_train_tokens})"
        )


def build(cfg: DataConfig, min_train_tokens: int = 0) -> TokenSplits:
    """Token tensors of the trial's train sample and of the holdout.

    Raises ValueError naming data.fraction if the sample holds fewer than `min_train_tokens`
    (pass the tokens of one batch, so a too-small fraction fails at start-up with a clear reason).
    """
    tokens = load_token_stream(cfg)
    p = plan_chunks(
        int(tokens.shape[0]),
        cfg.chunk_tokens,
        cfg.holdout_fraction,
        cfg.fraction,
        cfg.sampling,
        cfg.seed,
    )
    _check_enough(cfg, p.train_tokens, min_train_tokens)

    def to_array(ids: np.ndarray) -> np.ndarray:
        return gather_chunks(tokens, ids, cfg.chunk_tokens).astype(np.int64)

    train = to_array(p.train_ids)
    extra = extra_train_tokens(cfg)
    if extra is not None:  # after the holdout split: the eval split is the corpus's own
        train = np.concatenate([train, np.asarray(extra, dtype=np.int64)])
    return TokenSplits(
        train=torch.from_numpy(train),
        eval=torch.from_numpy(to_array(p.eval_ids)),
        vocab_size=cfg.vocab_size,
        corpus_tokens=p.pool_tokens + (0 if extra is None else int(extra.shape[0])),
    )
