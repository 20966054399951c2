"""Tokenizers: UTF-8 bytes (256 ids) and byte-level BPE trained once per corpus and cached.

A BPE tokenizer is keyed on disk by (corpus content hash, vocab_size), so the first process to
need it trains it (under a lock) and every later trial loads the saved JSON instead.

    tok = get_tokenizer(TokenizerConfig(type="bpe", vocab_size=512), root, corpus.content_hash,
                        lambda: corpus.docs)
    ids = tok.encode("def f(x):\n")   # 1-D uint16 array;  tok.decode(ids) == "def f(x):\n"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from data.cache import atomic_write_bytes, build_lock, stable_hash
from data.config import TokenizerConfig
from data.synthetic import token_dtype

_ENCODE_BATCH_DOCS = 1024


class ByteTokenizer:
    """UTF-8 bytes as token ids: vocab 256, nothing to train, lossless on valid text."""

    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text`, (n_bytes,) uint8."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of token ids (invalid UTF-8 sequences, e.g. a cut character, become U+FFFD)."""
        return bytes(np.asarray(ids, dtype=np.uint8).tolist()).decode("utf-8", errors="replace")

    def encode_docs(self, docs: list[str]) -> np.ndarray:
        """One token stream for all documents, in order."""
        return np.frombuffer(b"".join(d.encode("utf-8") for d in docs), dtype=np.uint8).copy()


class BPETokenizer:
    """Byte-level BPE (a `tokenizers.Tokenizer`) with ids below vocab_size."""

    def __init__(self, tokenizer: Tokenizer, vocab_size: int) -> None:
        self.tokenizer = tokenizer
        """The underlying `tokenizers` object."""
        self.vocab_size = vocab_size
        """Configured vocab size (the trained vocab may be smaller on a tiny corpus)."""
        self._dtype = token_dtype(vocab_size)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of `text`, 1-D."""
        return np.asarray(self.tokenizer.encode(text).ids, dtype=self._dtype)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of token ids."""
        return self.tokenizer.decode(np.asarray(ids).tolist())

    def encode_docs(self, docs: list[str]) -> np.ndarray:
        """One token stream for all documents, in order (encoded in parallel batches)."""
        parts = []
        for i in range(0, len(docs), _ENCODE_BATCH_DOCS):
            for enc in self.tokenizer.encode_batch(docs[i : i + _ENCODE_BATCH_DOCS]):
                parts.append(np.asarray(enc.ids, dtype=self._dtype))
        return np.concatenate(parts) if parts else np.empty(0, dtype=self._dtype)


TextTokenizer = ByteTokenizer | BPETokenizer


def train_bpe(docs: list[str], vocab_size: int) -> Tokenizer:
    """Train a byte-level BPE with `vocab_size` ids (the 256 byte symbols included) on `docs`."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    return tok


def bpe_path(root: Path, content_hash: str, vocab_size: int) -> Path:
    """Where the BPE trained on the corpus `content_hash` with `vocab_size` ids is cached."""
    return root / "tokenizers" / f"bpe{vocab_size}-{stable_hash(content_hash, vocab_size)}.json"


def get_tokenizer(
    cfg: TokenizerConfig,
    root: Path,
    content_hash: str,
    load_docs: Callable[[], list[str]],
) -> TextTokenizer:
    """The tokenizer for a corpus: byte, or its cached BPE (trained first if not cached).

    `load_docs` is only called when a BPE has to be trained.
    """
    if cfg.type == "byte":
        return ByteTokenizer()
    path = bpe_path(root, content_hash, cfg.vocab_size)
    if not path.is_file():
        with build_lock(root, path.stem):
            # Another process may have trained it while this one waited for the lock.
            if not path.is_file():
                tok = train_bpe(load_docs(), cfg.vocab_size)
                atomic_write_bytes(path, tok.to_str().encode("utf-8"))
    return BPETokenizer(Tokenizer.from_file(str(path)), cfg.vocab_size)
