"""Corpus loaders: text files (dirs, globs, errors), the stdlib corpus, Hugging Face datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from data import (
    DataConfig,
    HFTextConfig,
    StdlibConfig,
    TextFilesConfig,
    build,
    load_token_stream,
)
from data.sources import load_stdlib, load_text_files, resolve_text_files


def test_directory_walk_takes_text_suffixes_in_sorted_order(text_dir: Path):
    files = resolve_text_files(TextFilesConfig(paths=[str(text_dir)]))
    assert [f.name for f in files] == ["a.txt", "b.md", "c.py"]
    everything = resolve_text_files(TextFilesConfig(paths=[str(text_dir)], suffixes=None))
    assert [f.name for f in everything] == ["a.txt", "blob.bin", "b.md", "c.py"]


def test_globs_and_files_in_given_order_without_duplicates(text_dir: Path):
    cfg = TextFilesConfig(
        paths=[
            str(text_dir / "sub" / "*.py"),
            str(text_dir / "**" / "*.md"),
            str(text_dir / "sub" / "c.py"),
        ]
    )
    assert [f.name for f in resolve_text_files(cfg)] == ["c.py", "b.md"]
    corpus = load_text_files(cfg)
    assert corpus.docs == [
        (text_dir / "sub" / "c.py").read_text(),
        (text_dir / "sub" / "b.md").read_text(),
    ]


def test_text_files_build_end_to_end(text_dir: Path):
    cfg = DataConfig(dataset=TextFilesConfig(paths=[str(text_dir)]), chunk_tokens=1024)
    raw = b"".join((text_dir / p).read_bytes() for p in ("a.txt", "sub/b.md", "sub/c.py"))
    assert bytes(load_token_stream(cfg)) == raw
    splits = build(cfg)
    assert splits.train.numel() + splits.eval.numel() == len(raw)
    assert splits.vocab_size == 256


def test_missing_path_and_empty_glob(tmp_path: Path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match=f"no such file or directory: {missing}"):
        load_text_files(TextFilesConfig(paths=[str(missing)]))
    with pytest.raises(FileNotFoundError, match="no files match the glob"):
        load_text_files(TextFilesConfig(paths=[str(tmp_path / "*.txt")]))


def test_empty_corpus(tmp_path: Path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="data.dataset.paths: the corpus is empty"):
        load_text_files(TextFilesConfig(paths=[str(tmp_path / "empty.txt")]))
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match="the corpus is empty"):
        load_text_files(TextFilesConfig(paths=[str(tmp_path / "d")]))


def test_non_utf8_file_is_named(text_dir: Path):
    bad = text_dir / "blob.bin"
    with pytest.raises(ValueError, match=f"{bad.name} is not UTF-8 text"):
        load_text_files(TextFilesConfig(paths=[str(text_dir / "a.txt"), str(bad)]))


def test_stdlib_corpus_is_capped_and_deterministic():
    first = load_stdlib(StdlibConfig(max_bytes=50_000))
    again = load_stdlib(StdlibConfig(max_bytes=50_000))
    size = sum(len(d.encode()) for d in first.docs)
    assert 50_000 - 4 < size <= 50_000
    assert first.content_hash == again.content_hash and len(first.docs) > 1
    assert "import" in "".join(first.docs)
    bigger = load_stdlib(StdlibConfig(max_bytes=60_000))
    assert "".join(bigger.docs).startswith("".join(first.docs[:-1]))


def test_hf_text_from_saved_dataset(tmp_path: Path):
    datasets = pytest.importorskip("datasets", reason="hf_text needs the optional datasets package")
    rows = [f"story {i}: the model reads token {i}." for i in range(400)]
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": rows, "id": list(range(400))}).save_to_disk(str(saved))

    cfg = DataConfig(dataset=HFTextConfig(path=str(saved)), chunk_tokens=256)
    splits = build(cfg)
    expected = "".join(rows).encode()
    assert splits.train.numel() + splits.eval.numel() == len(expected)

    capped = HFTextConfig(path=str(saved), max_bytes=1000)
    assert sum(len(d) for d in capped.build().docs) == 1000
    with pytest.raises(ValueError, match="data.dataset.text_field: no column 'body'"):
        HFTextConfig(path=str(saved), text_field="body").build()

    as_dict = tmp_path / "dict"
    datasets.DatasetDict({"validation": datasets.Dataset.from_dict({"text": rows})}).save_to_disk(
        str(as_dict)
    )
    assert HFTextConfig(path=str(as_dict), split="validation").build().docs == rows
    with pytest.raises(ValueError, match="data.dataset.split: no split 'train'"):
        HFTextConfig(path=str(as_dict)).build()
