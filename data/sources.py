"""Corpus loaders, one per dataset type, and the cheap fingerprints that key the cache.

A fingerprint identifies a source without reading its content (paths, sizes, modification times),
so a warm cache answers without touching the corpus; the content hash computed on a cold load is
what tokenizers and tokenized corpora are actually keyed by.

    corpus = load_text_files(TextFilesConfig(paths=["notes/", "book.txt"]))
    corpus.docs[0][:80], corpus.content_hash
    text_files_fingerprint(TextFilesConfig(paths=["notes/"]))  # stats only
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from data.cache import stable_hash
from data.synthetic import generate

if TYPE_CHECKING:
    from data.config import HFTextConfig, StdlibConfig, SyntheticConfig, TextFilesConfig

_GLOB_CHARS = frozenset("*?[")
_NEVER_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})
_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
"""The stdlib corpus leaves these out; ``tests_bytes`` adds them to the training pool only."""


@dataclass(frozen=True)
class Corpus:
    """A loaded corpus: text documents, or (synthetic sources) token ids ready to use."""

    content_hash: str
    """sha256 prefix of the content; the key of tokenizers and tokenized corpora."""
    docs: list[str] | None = None
    """Text documents in corpus order."""
    tokens: np.ndarray | None = None
    """1-D token ids, for sources that need no tokenizer."""


def _hash_docs(docs: list[str]) -> str:
    h = hashlib.sha256()
    for doc in docs:
        data = doc.encode("utf-8")
        # Length prefixes keep ["ab", "c"] and ["a", "bc"] distinct.
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:32]


def _stats(files: list[Path]) -> list[tuple[str, int, int]]:
    out = []
    for f in files:
        st = f.stat()
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return out


def _walk(root: Path, suffixes: tuple[str, ...] | None) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if suffixes is None or name.endswith(tuple(suffixes)):
                found.append(Path(dirpath) / name)
    return found


def resolve_text_files(cfg: TextFilesConfig) -> list[Path]:
    """The files `cfg.paths` names, in order, without duplicates."""
    files: list[Path] = []
    for entry in cfg.paths:
        expanded = os.path.expanduser(entry)
        if _GLOB_CHARS & set(expanded):
            matches = sorted(glob.glob(expanded, recursive=True))
            if not matches:
                raise FileNotFoundError(f"data.dataset.paths: no files match the glob {entry}")
            for m in matches:
                p = Path(m)
                files.extend(_walk(p, cfg.suffixes) if p.is_dir() else [p])
        else:
            p = Path(expanded)
            if p.is_dir():
                files.extend(_walk(p, cfg.suffixes))
            elif p.is_file():
                files.append(p)
            else:
                raise FileNotFoundError(f"data.dataset.paths: no such file or directory: {entry}")
    unique = list(dict.fromkeys(f.resolve() for f in files))
    if not unique:
        raise ValueError(
            f"data.dataset.paths: the corpus is empty (no files with suffixes {cfg.suffixes} "
            f"in {list(cfg.paths)})"
        )
    return unique


def text_files_fingerprint(cfg: TextFilesConfig) -> str:
    """Identity of the files from their paths, sizes and modification times."""
    return stable_hash("text_files", _stats(resolve_text_files(cfg)))


def load_text_files(cfg: TextFilesConfig) -> Corpus:
    """Read every file as UTF-8; one document per file."""
    docs = []
    for f in resolve_text_files(cfg):
        try:
            docs.append(f.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ValueError(
                f"data.dataset.paths: {f} is not UTF-8 text (invalid byte at offset {e.start})"
            ) from None
    if not any(docs):
        raise ValueError(f"data.dataset.paths: the corpus is empty ({len(docs)} files, 0 bytes)")
    docs = [d for d in docs if d]
    return Corpus(content_hash=_hash_docs(docs), docs=docs)


def _stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(max_bytes: int, tests: bool = False) -> list[tuple[Path, int]]:
    """(file, bytes to take) of the stdlib .py sources that make up the first max_bytes: the
    library (tests=False) or only the test suites the library leaves out (tests=True)."""
    root = _stdlib_root()
    rel = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _NEVER_DIRS and d[0] != "."]
        in_tests = bool(_TEST_DIRS.intersection(Path(dirpath).relative_to(root).parts))
        if not tests:
            dirnames[:] = [d for d in dirnames if d not in _TEST_DIRS]
        elif not in_tests:
            continue  # the library's own files; walking on finds its test folders
        rel.extend(
            os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
            for f in filenames
            if f.endswith(".py")
        )
    taken, remaining = [], max_bytes
    for r in sorted(rel):
        if remaining <= 0:
            break
        path = root / r
        size = path.stat().st_size
        if size:
            taken.append((path, min(size, remaining)))
            remaining -= size
    return taken


def stdlib_fingerprint(cfg: StdlibConfig) -> str:
    """Identity from the Python version and the chosen files' sizes and modification times."""
    files = [p for p, _ in stdlib_files(cfg.max_bytes)]
    return stable_hash("stdlib", sys.version, cfg.max_bytes, _stats(files))


def load_stdlib(cfg: StdlibConfig) -> Corpus:
    """Read the stdlib sources; the last file is cut at max_bytes (at a character boundary)."""
    docs = _read_cut(stdlib_files(cfg.max_bytes))
    if not docs:
        raise ValueError(f"data.dataset: no standard-library sources found under {_stdlib_root()}")
    return Corpus(content_hash=_hash_docs(docs), docs=docs)


@dataclass(frozen=True)
class ExtraSource:
    """Text added to a corpus's training pool only (never to its holdout)."""

    fingerprint: str
    """Cheap identity, the key of its tokenized cache."""
    files: tuple[tuple[Path, int], ...]

    def build(self) -> list[str]:
        """The documents, read now."""
        return _read_cut(list(self.files))


def stdlib_tests(max_bytes: int) -> ExtraSource:
    """The first max_bytes of the stdlib's test suites' sources."""
    files = stdlib_files(max_bytes, tests=True)
    fingerprint = stable_hash("stdlib-tests", sys.version, max_bytes, _stats([p for p, _ in files]))
    return ExtraSource(fingerprint, tuple(files))


def _read_cut(files: list[tuple[Path, int]]) -> list[str]:
    """Each file's first `take` bytes, cut before a UTF-8 continuation byte."""
    docs = []
    for path, take in files:
        data = path.read_bytes()
        while 0 < take < len(data) and data[take] & 0xC0 == 0x80:
            take -= 1
        # "replace" because the stdlib is not the user's data: one odd byte must not fail a run.
        docs.append(data[:take].decode("utf-8", errors="replace"))
    return docs


def synthetic_fingerprint(cfg: SyntheticConfig) -> str:
    """Identity of a synthetic corpus: its whole config (generation is deterministic)."""
    return stable_hash("synthetic", cfg.model_dump())


def load_synthetic(cfg: SyntheticConfig) -> Corpus:
    """Generate the Markov corpus as tokens."""
    return Corpus(content_hash=synthetic_fingerprint(cfg), tokens=generate(cfg))


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def hf_fingerprint(cfg: HFTextConfig) -> str:
    """File stats for a local path; for a hub name the config alone (hub data taken as fixed)."""
    local = Path(cfg.path).expanduser()
    stats = []
    if local.is_dir():
        stats = _stats(_walk(local, None))
    elif local.is_file():
        stats = _stats([local])
    return stable_hash("hf_text", cfg.model_dump(), stats)


def _open_hf(cfg: HFTextConfig) -> Any:  # a datasets.Dataset (optional dependency)
    try:
        import datasets
    except ImportError:
        raise ValueError(
            "data.dataset.type=hf_text needs the `datasets` package (pip install datasets)"
        ) from None
    local = Path(cfg.path).expanduser()
    if local.is_dir() and _is_saved_dataset(local):
        ds = datasets.load_from_disk(str(local))
        if isinstance(ds, datasets.DatasetDict):
            if cfg.split not in ds:
                raise ValueError(f"data.dataset.split: no split {cfg.split!r}; have {list(ds)}")
            ds = ds[cfg.split]
        return ds
    try:
        return datasets.load_dataset(cfg.path, cfg.name, split=cfg.split)
    except (FileNotFoundError, ConnectionError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"data.dataset.path: cannot load {cfg.path!r}: {first}") from e


def load_hf_text(cfg: HFTextConfig) -> Corpus:
    """Read the text column of the split (up to max_bytes); one document per row."""
    ds = _open_hf(cfg)
    if cfg.text_field not in ds.column_names:
        raise ValueError(
            f"data.dataset.text_field: no column {cfg.text_field!r} in {cfg.path}; "
            f"have {ds.column_names}"
        )
    docs, remaining = [], cfg.max_bytes
    for batch in ds.select_columns([cfg.text_field]).iter(batch_size=1024):
        for text in batch[cfg.text_field]:
            if text is None:
                continue
            if not isinstance(text, str):
                raise ValueError(
                    f"data.dataset.text_field: column {cfg.text_field!r} holds "
                    f"{type(text).__name__}, not text"
                )
            if remaining is not None:
                data = text.encode("utf-8")[:remaining]
                remaining -= len(data)
                text = data.decode("utf-8", errors="ignore")
            if text:
                docs.append(text)
            if remaining is not None and remaining <= 0:
                break
        if remaining is not None and remaining <= 0:
            break
    if not docs:
        raise ValueError(f"data.dataset.path: the corpus is empty (no text in {cfg.path})")
    return Corpus(content_hash=_hash_docs(docs), docs=docs)
