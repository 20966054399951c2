"""The sweep folder `<storage>/<name>/`: its identity, its lock, and what is left to run.

A folder belongs to one sweep: re-running the same spec (or one whose grid grew) continues it;
a spec that changed anything else is refused unless forced, so results of two different
sweeps never mix. A lock stops two drivers from writing the same folder at once, and it is
taken before anything in the folder is written.

    with SweepLock(Path(storage) / spec.name):
        sweep_dir = open_sweep_dir(spec, storage="results", resume=False, force=False)
        ...
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
from pathlib import Path

import yaml

from contract.results import SPEC_FILE
from sweeps.errors import SpecError
from sweeps.spec.sweep_spec import SweepSpec

LOCK_FILE = ".lock"
FINGERPRINT_FILE = ".fingerprint"
"""Hash of the spec without its grid values (see SweepSpec.fingerprint)."""


def open_sweep_dir(spec: SweepSpec, storage: str, resume: bool, force: bool) -> Path:
    """Create or re-open the sweep folder, refusing anything that would mix or lose results.

    Call it holding the folder's `SweepLock`: it writes spec.yaml and the fingerprint, which a
    second driver must never overwrite under a running sweep."""
    sweep_dir = Path(storage) / spec.name
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise SpecError(f"{sweep_dir}: exists and is not a folder")
    spec_path = sweep_dir / SPEC_FILE
    has_content = sweep_dir.is_dir() and any(p.name != LOCK_FILE for p in sweep_dir.iterdir())
    if resume and not spec_path.exists():
        raise SpecError(f"{sweep_dir}: nothing to resume (no {SPEC_FILE}); run without --resume")
    if has_content and not spec_path.exists():
        raise SpecError(f"{sweep_dir}: folder is not a sweep (no {SPEC_FILE}); pick another --name")
    if spec_path.exists():
        stored_path = sweep_dir / FINGERPRINT_FILE
        stored = stored_path.read_text().strip() if stored_path.exists() else None
        if stored != spec.fingerprint() and not force:
            raise SpecError(
                f"{sweep_dir}: holds a sweep with a different spec (only grid values may change "
                "between runs); use another --name, or --force to continue it with this spec"
            )
    _make_dir(sweep_dir)
    write_spec(sweep_dir, spec)
    (sweep_dir / FINGERPRINT_FILE).write_text(spec.fingerprint())
    return sweep_dir


def write_spec(sweep_dir: Path, spec: SweepSpec) -> None:
    """Replace the folder's spec.yaml at once (a reader never sees half a file); also how an
    adaptive sweep records the sizes it placed (sweeps.plan.recentre)."""
    spec_path = sweep_dir / SPEC_FILE
    tmp = spec_path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False), encoding="utf-8")
    os.replace(tmp, spec_path)


def _make_dir(folder: Path) -> bool:
    """mkdir -p with a one-line error; returns whether the folder is new."""
    if folder.exists() and not folder.is_dir():
        raise SpecError(f"{folder}: exists and is not a folder")
    existed = folder.is_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or err.__class__.__name__
        raise SpecError(f"{folder}: cannot create the sweep folder ({reason.lower()})") from None
    return not existed


class SweepLock:
    """An exclusive lock on a sweep folder: `flock` on `.lock`, which the kernel releases when
    its driver dies, so a lock left by a killed driver is taken over (with a line saying so)
    and two drivers entering at the same instant can never both hold it. The file names the
    holder (`pid host`) for the error the second driver prints."""

    def __init__(self, sweep_dir: Path) -> None:
        self.dir = Path(sweep_dir)
        self.path = self.dir / LOCK_FILE
        self._fd: int | None = None
        self._created_dir = False
        self._new_parents: list[Path] = []

    def __enter__(self) -> SweepLock:
        self._new_parents = [p for p in self.dir.parents if not p.exists()]
        self._created_dir = _make_dir(self.dir)
        try:
            while self._fd is None:
                self._fd = self._try_acquire()
        except BaseException:
            self._remove_new_dir()
            raise
        return self

    def _try_acquire(self) -> int | None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            pid, host = self._holder()
            who = f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")
            raise SpecError(f"{self.dir}: another run ({who}) is using this sweep") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # the holder removed the file between our open and flock: try again
            os.close(fd)
            return None
        pid, _ = self._holder()
        if pid and pid != os.getpid():
            print(
                f"{self.dir}: taking over the lock left by an earlier run (pid {pid}), which is "
                "no longer running",
                file=sys.stderr,
                flush=True,
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        return fd

    def _holder(self) -> tuple[int, str | None]:
        try:
            parts = self.path.read_text().split()
            return int(parts[0]), (parts[1] if len(parts) > 1 else None)
        except (OSError, ValueError, IndexError):
            return 0, None

    def _remove_new_dir(self) -> None:
        if self._created_dir:
            self.path.unlink(missing_ok=True)
            try:
                for folder in (self.dir, *self._new_parents):
                    folder.rmdir()
            except OSError:
                pass

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._fd is None:
            return
        # Unlink while holding the lock; a waiter that opened the old file notices (inode).
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
        if exc_type is not None and self._created_dir and not any(self.dir.iterdir()):
            self.dir.rmdir()
            for parent in self._new_parents:  # a refused run leaves no empty storage folder
                try:
                    parent.rmdir()
                except OSError:
                    break
