"""End what a killed driver's local Ray left running, and only that.

A driver killed with SIGKILL cannot stop the local Ray it started; Ray's dashboard and
runtime-env agents outlive it. Right after starting Ray the driver records every process it
started (its descendants), each by PID and start time, in the sweep folder and in a per-user
folder. The next driver to start, of any sweep, ends the processes of records whose driver is
gone, and only those whose PID and start time both still match: a PID the system gave to
another process since, a damaged or copied record, or another live sweep's Ray is never
touched. No command line is matched against text.

    record_launch(sweep_dir)       # after ray.init started a local Ray
    end_leftovers(sweep_dir)       # at the start of a sweep: ends a dead driver's Ray
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from data.cache import cache_root

SESSION_FILE = ".ray_session"
"""In a sweep folder: the processes of the local Ray its last driver started."""
REGISTRY_DIR = "ray-drivers"
"""Under the cache folder: one record per driver that started a local Ray."""
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), if it
    exists and belongs to this user; with the PID it names one process for the whole boot."""
    try:
        proc = Path("/proc") / str(pid)
        if proc.stat().st_uid != os.getuid():
            return None
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _parents() -> dict[int, int]:
    """PID -> parent PID of every process this user can see."""
    parents = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    return parents


def _descendants(root: int) -> list[int]:
    parents, found, frontier = _parents(), [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def record_launch(sweep_dir: Path, session: str = "") -> None:
    """Record this driver and every process it started so far (call right after ray.init
    started a local Ray: its agents are up by then)."""
    me = os.getpid()
    processes = [{"pid": p, "start": s} for p in _descendants(me) if (s := _start_time(p))]
    record = {
        "boot": _boot_id(),
        "driver": {"pid": me, "start": _start_time(me)},
        "session": session,
        "processes": processes,
    }
    text = json.dumps(record)
    paths = [Path(sweep_dir) / SESSION_FILE, _registry() / f"{me}-{_start_time(me)}.json"]
    for path in paths:
        path.write_text(text)
    atexit.register(_forget, paths)  # a driver that exits normally takes its Ray with it


def _registry() -> Path:
    folder = cache_root(None) / REGISTRY_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _forget(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _leftover(path: Path) -> list[tuple[int, int]] | None:
    """The (pid, start) pairs of a record whose driver is gone; None while it runs. A record
    that does not parse, or from before the last boot, names nothing."""
    try:
        record: dict[str, Any] = json.loads(path.read_text())
        driver = record["driver"]
        pairs = [(int(p["pid"]), int(p["start"])) for p in record["processes"]]
        boot = str(record["boot"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if boot != _boot_id():
        return []
    if driver.get("pid") is not None and _start_time(int(driver["pid"])) == driver.get("start"):
        return None  # its driver still runs: not a leftover
    return pairs


def _signal_matching(pairs: list[tuple[int, int]], signum: int) -> list[int]:
    """Send `signum` to each process still running with its recorded start time."""
    hit = []
    for pid, start in pairs:
        if pid != os.getpid() and _start_time(pid) == start:
            try:
                os.kill(pid, signum)
                hit.append(pid)
            except ProcessLookupError:
                pass
    return hit


def end_leftovers(sweep_dir: Path, grace_s: float = 3.0) -> int:
    """End the recorded processes of every driver that is gone (this sweep's and any other's
    of this user), with a line saying how many; returns that number."""
    records = [Path(sweep_dir) / SESSION_FILE, *sorted(_registry().glob("*.json"))]
    pairs: set[tuple[int, int]] = set()
    for path in records:
        if not path.exists():
            continue
        found = _leftover(path)
        if found is not None:
            pairs.update(found)
            path.unlink(missing_ok=True)
    ended = _signal_matching(sorted(pairs), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_start_time(p) == s for p, s in pairs):
        time.sleep(0.1)
    _signal_matching(sorted(pairs), signal.SIGKILL)
    if ended:
        print(
            f"ended {len(ended)} leftover Ray processes of a killed earlier driver "
            "(recorded by PID and start time when it started them)",
            file=sys.stderr,
            flush=True,
        )
    return len(ended)
