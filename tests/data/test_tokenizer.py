"""Byte and BPE tokenizers: roundtrips, and a cached BPE that trials never retrain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import data.tokenizer as tokenizer_mod
from data import DataConfig, TextFilesConfig, TokenizerConfig, build, load_tokenizer
from data.tokenizer import ByteTokenizer, bpe_path, get_tokenizer

TEXT = "def f(x):\n    return x ** 2  # naïve, ünïcode — 数据\n"


def test_byte_tokenizer_roundtrip():
    tok = ByteTokenizer()
    ids = tok.encode(TEXT)
    assert ids.dtype == np.uint8 and len(ids) == len(TEXT.encode("utf-8"))
    assert tok.decode(ids) == TEXT
    assert np.array_equal(tok.encode_docs(["ab", "c"]), tok.encode("abc"))


def test_bpe_roundtrip_and_compression(text_dir: Path, tmp_path: Path):
    docs = [(text_dir / name).read_text() for name in ("a.txt", "sub/b.md")]
    tok = get_tokenizer(TokenizerConfig(type="bpe", vocab_size=300), tmp_path, "h1", lambda: docs)
    ids = tok.encode(docs[0][:2000])
    assert ids.max() < 300 and len(ids) < 0.7 * 2000  # 44 merges learned from the prose
    assert tok.decode(ids) == docs[0][:2000]
    assert tok.decode(tok.encode(TEXT)) == TEXT  # unseen characters fall back to bytes


def test_bpe_cache_hit_does_not_retrain(
    text_dir: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
):
    calls = []
    real_train = tokenizer_mod.train_bpe

    def counting_train(docs, vocab_size):
        calls.append(vocab_size)
        return real_train(docs, vocab_size)

    monkeypatch.setattr(tokenizer_mod, "train_bpe", counting_train)
    cfg = DataConfig(
        dataset=TextFilesConfig(paths=[str(text_dir)]),
        tokenizer=TokenizerConfig(type="bpe", vocab_size=320),
        chunk_tokens=256,
    )
    first = build(cfg)
    assert calls == [320] and first.vocab_size == 320
    assert int(first.train.max()) < 320

    # A second trial with another fraction, even with the tokenized corpus gone, loads the
    # saved tokenizer instead of training again, and tokenizes identically.
    npys = list((private_cache / "tokens").glob("*.npy"))
    assert len(npys) == 1
    npys[0].unlink()
    again = build(cfg.model_copy(update={"fraction": 0.5}))
    assert calls == [320]
    assert np.array_equal(again.eval.numpy(), first.eval.numpy())
    tok = load_tokenizer(cfg)
    assert calls == [320]
    assert tok.decode(tok.encode(TEXT)) == TEXT


def test_bpe_is_keyed_by_corpus_and_vocab(tmp_path: Path):
    a = bpe_path(tmp_path, "corpus-a", 512)
    assert a != bpe_path(tmp_path, "corpus-b", 512) and a != bpe_path(tmp_path, "corpus-a", 1024)
