"""Faults of the machine around a sweep: secrets, leftover processes, pickles from elsewhere,
and SIGKILLs of the driver at random moments (the fault-injection test, marked ray)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.cluster import SESSION_FILE, end_leftover_ray, protect_token
from sweeps.errors import describe_crash


def test_ray_token_is_made_readable_by_its_owner_only(tmp_path: Path):
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("secret")
    token.chmod(0o644)
    assert protect_token(tmp_path)
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert not protect_token(tmp_path)  # already private


def test_leftover_processes_of_an_earlier_local_ray_are_ended(tmp_path: Path, capsys):
    session = tmp_path / "ray" / "session_2026-01-01_00-00-00_000000_1"
    other = tmp_path / "ray" / "session_2026-01-01_00-00-00_000000_2"
    sleeper = "import sys, time; time.sleep(60)"
    ours = subprocess.Popen([sys.executable, "-c", sleeper, f"--session-dir={session}"])
    theirs = subprocess.Popen([sys.executable, "-c", sleeper, f"--session-dir={other}"])
    try:
        (tmp_path / SESSION_FILE).write_text(f"{session}\n")
        assert end_leftover_ray(tmp_path) == 1
        assert ours.wait(timeout=5) is not None
        assert theirs.poll() is None  # another session's process is left alone
        assert "ended 1 leftover Ray processes" in capsys.readouterr().err
        assert not (tmp_path / SESSION_FILE).exists() and end_leftover_ray(tmp_path) == 0
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()


def test_rl_checkpoints_load_only_from_the_trials_own_folder(tmp_path: Path):
    from rl.trial import check_own_checkpoint

    root = tmp_path / "trial" / "checkpoints"
    (root / "latest").mkdir(parents=True)
    assert check_own_checkpoint(str(root / "latest"), root) == (root / "latest").resolve()
    elsewhere = tmp_path / "downloaded"
    elsewhere.mkdir()
    os.symlink(elsewhere, root / "sneaky")
    for path in (elsewhere, root / "sneaky", root / ".." / ".." / "downloaded"):
        with pytest.raises(ValueError, match="pickles"):
            check_own_checkpoint(str(path), root)


@pytest.mark.parametrize(
    ("ray_text", "expected"),
    [
        ("Task was killed due to the node running low on memory. Memory on the node", "memory"),
        ("The worker died: process killed by signal SIGKILL", "signal SIGKILL"),
        ("Worker exits with an exit code 3. stack", "code 3"),
        (
            "The actor died. Worker exit type: SYSTEM_ERROR Worker exit detail: Worker "
            "unexpectedly exits with a connection error code 2. End of file.",
            "connection error code 2",
        ),
        ("", "no reason"),
    ],
)
def test_a_dead_trial_process_is_described_by_what_ray_recorded(ray_text, expected):
    line = describe_crash(ray_text)
    assert expected in line and "\n" not in line
