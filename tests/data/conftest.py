"""Shared fixtures of the data tests: a private cache directory and a small text corpus."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

WORDS = (
    "the model data token loss scale law fit sweep trial compute budget train eval batch "
    "learning rate warmup decay layer head width depth sample fraction seed chunk"
).split()


def prose(seed: int, num_words: int) -> str:
    """Deterministic pseudo-English: lines of random words from a small vocabulary."""
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(WORDS) for _ in range(12)) + "." for _ in range(num_words // 12)]
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty cache, so no test sees another's tokenizers or corpora."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCALESWEEP_CACHE", str(cache))
    return cache


@pytest.fixture
def text_dir(tmp_path: Path) -> Path:
    """corpus/{a.txt, sub/b.md, sub/c.py} of prose, plus files a directory walk must skip."""
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text(prose(0, 3000))
    (root / "sub" / "b.md").write_text(prose(1, 3000))
    (root / "sub" / "c.py").write_text(prose(2, 3000))
    (root / "blob.bin").write_bytes(b"\xff\xfe not text")
    (root / ".hidden.txt").write_text("hidden")
    return root
