"""The sweep lock: atomic, taken before anything is written, taken over from a dead driver."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.errors import SpecError
from sweeps.folder.sweep_dir import FINGERPRINT_FILE, LOCK_FILE, SweepLock, open_sweep_dir
from sweeps.spec.sweep_spec import spec_from_dict

SPEC = {
    "name": "locked",
    "model": {"size": "gpt-20k"},
    "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 20000}},
    "trainer": {"max_tokens": 4096, "batch_size": 4},
}


def _contend(folder: str, start, results) -> None:
    start.wait()
    try:
        with SweepLock(Path(folder)):
            results.put("got")
            start.wait()  # hold the lock until every contender has tried
    except SpecError:
        results.put("refused")
        start.wait()


def test_two_drivers_entering_at_once_never_both_hold_it(tmp_path: Path):
    ctx = multiprocessing.get_context("fork")
    for attempt in range(15):
        folder = tmp_path / f"s{attempt}"
        start, results = ctx.Barrier(3), ctx.Queue()
        procs = [ctx.Process(target=_contend, args=(str(folder), start, results)) for _ in "ab"]
        for p in procs:
            p.start()
        start.wait()  # both enter now
        start.wait()  # both have tried
        for p in procs:
            p.join(10)
        assert sorted(results.get(timeout=5) for _ in procs) == ["got", "refused"]


def test_a_refused_driver_writes_nothing(tmp_path: Path):
    spec = spec_from_dict(SPEC)
    with SweepLock(tmp_path / "locked"):
        open_sweep_dir(spec, str(tmp_path), resume=False, force=False)
        fingerprint = (tmp_path / "locked" / FINGERPRINT_FILE).read_text()
        spec_text = (tmp_path / "locked" / "spec.yaml").read_text()
        changed = spec_from_dict({**SPEC, "optim": {"lr": 0.5}})
        code = (
            "import sys; from sweeps.folder.sweep_dir import SweepLock, open_sweep_dir\n"
            "from sweeps.spec.sweep_spec import spec_from_dict\n"
            f"spec = spec_from_dict({changed.to_dict()!r})\n"
            f"with SweepLock({str(tmp_path / 'locked')!r}):\n"
            f"    open_sweep_dir(spec, {str(tmp_path)!r}, resume=False, force=True)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert proc.returncode != 0 and "another run" in proc.stderr
        assert (tmp_path / "locked" / FINGERPRINT_FILE).read_text() == fingerprint
        assert (tmp_path / "locked" / "spec.yaml").read_text() == spec_text
    assert not (tmp_path / "locked" / LOCK_FILE).exists()


def test_lock_of_a_killed_driver_is_taken_over_with_a_line(tmp_path: Path, capsys):
    folder = tmp_path / "s"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / LOCK_FILE).write_text(f"{dead.pid} {os.uname().nodename}\n")
    with SweepLock(folder):
        assert (folder / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    err = capsys.readouterr().err
    assert f"pid {dead.pid}" in err and "taking over" in err


def test_a_failed_open_leaves_no_folder_behind(tmp_path: Path):
    spec = spec_from_dict(SPEC)
    with pytest.raises(SpecError, match="nothing to resume"):
        with SweepLock(tmp_path / "locked"):
            open_sweep_dir(spec, str(tmp_path), resume=True, force=False)
    assert list(tmp_path.iterdir()) == []
