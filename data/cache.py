"""On-disk cache shared by every trial process: tokenizers, tokenized corpora and corpus indexes.

Many trials start at once on one machine and all want the same tokenized corpus, so writes are
atomic (temp file then `os.replace`) and cold builds are serialised by a file lock: one process
does the work, the others wait and then read its result.

    root = cache_root(None)                       # $SCALESWEEP_CACHE or ~/.cache/scalesweep
    with build_lock(root, "tokens-ab12"):
        atomic_write_bytes(root / "tokens" / "ab12.json", b"{}")
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; atomic writes still keep readers safe.
    fcntl = None

CACHE_ENV = "SCALESWEEP_CACHE"
"""Environment variable that overrides the default cache directory."""


def cache_root(cache_dir: str | None) -> Path:
    """The cache directory: `cache_dir` if given, else $SCALESWEEP_CACHE, else ~/.cache/scalesweep."""
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "scalesweep")
    root = Path(cache_dir).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"data.cache_dir: cannot create cache directory {root}: {e}") from e
    return root


def stable_hash(*parts: object, length: int = 16) -> str:
    """Short hex digest of the JSON form of `parts` (stable across processes and runs)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write `payload` to `path` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj: object) -> None:
    """Atomically write `obj` as JSON."""
    atomic_write_bytes(path, json.dumps(obj, sort_keys=True, indent=1).encode())


def read_json(path: Path) -> dict | None:
    """The JSON object at `path`, or None if it is missing or unreadable (treated as a miss)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def save_array(path: Path, array: np.ndarray) -> None:
    """Atomically write a 1-D array as .npy."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def load_array(path: Path) -> np.ndarray | None:
    """Memory-map the .npy at `path` read-only, or None if it is missing or corrupt."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def build_lock(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive inter-process lock named `name` under `root` for the `with` body."""
    lock_dir = root / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(lock_dir / f"{name}.lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
