"""The sweep folder `<storage>/<name>/`: its identity, its lock, and what is left to run.

A folder belongs to one sweep: re-running the same spec (or one whose grid grew) continues it;
a spec that changed anything else is refused unless forced, so results of two different
sweeps never mix. A lock file stops two drivers from writing the same tables at once.

    sweep_dir = open_sweep_dir(spec, storage="results", resume=False, force=False)
    with SweepLock(sweep_dir):
        ...
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from contract.results import SPEC_FILE
from sweeps.errors import SpecError
from sweeps.spec import SweepSpec

LOCK_FILE = ".lock"
FINGERPRINT_FILE = ".fingerprint"
"""Hash of the spec without its grid values (see SweepSpec.fingerprint)."""


def open_sweep_dir(spec: SweepSpec, storage: str, resume: bool, force: bool) -> Path:
    """Create or re-open the sweep folder, refusing anything that would mix or lose results."""
    sweep_dir = Path(storage) / spec.name
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise SpecError(f"{sweep_dir}: exists and is not a folder")
    spec_path = sweep_dir / SPEC_FILE
    has_content = sweep_dir.is_dir() and any(sweep_dir.iterdir())
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
    sweep_dir.mkdir(parents=True, exist_ok=True)
    tmp = spec_path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False), encoding="utf-8")
    os.replace(tmp, spec_path)
    (sweep_dir / FINGERPRINT_FILE).write_text(spec.fingerprint())
    return sweep_dir


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SweepLock:
    """An exclusive lock on a sweep folder, tolerant of a driver that was killed (-9)."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = Path(sweep_dir) / LOCK_FILE

    def __enter__(self) -> SweepLock:
        if self.path.exists():
            try:
                pid = int(self.path.read_text().strip() or 0)
            except ValueError:
                pid = 0
            if pid and pid != os.getpid() and _pid_alive(pid):
                raise SpecError(f"{self.path.parent}: another run (pid {pid}) is using this sweep")
        self.path.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)
