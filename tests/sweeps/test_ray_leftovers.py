"""A killed driver's local Ray is ended at the next start, by the PIDs and start times it
recorded, and nothing else is: not a process whose command line merely names the session,
not another live sweep's Ray, not a PID the system reused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from sweeps.tune.leftovers import SESSION_FILE, _start_time
from sweeps.tune.ray_cluster import end_leftover_ray

SLEEPER = "import sys, time; time.sleep(120)"
DRIVER = """
import subprocess, sys, time
from pathlib import Path
from sweeps.tune.leftovers import record_launch
kids = [subprocess.Popen([sys.executable, "-c", {sleeper!r}]) for _ in range(2)]
record_launch(Path({sweep!r}), "session_x")
print(" ".join(str(k.pid) for k in kids), flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _driver(sweep: Path) -> tuple[subprocess.Popen, list[int]]:
    code = DRIVER.format(sleeper=SLEEPER, sweep=str(sweep))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    kids = [int(p) for p in proc.stdout.readline().split()]
    return proc, kids


def test_only_a_dead_drivers_recorded_processes_are_ended(tmp_path: Path, capsys):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    # Command lines that name a session: the old cleanup ended whatever matched the text.
    bystander = subprocess.Popen([sys.executable, "-c", SLEEPER, "session_x", str(sweep)])
    driver, kids = _driver(sweep)
    try:
        assert end_leftover_ray(sweep) == 0  # its driver runs: nothing is a leftover
        assert all(_alive(k) for k in kids)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert end_leftover_ray(tmp_path / "another-sweep-folder") == 2  # any next start
        deadline = time.monotonic() + 5
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(k) for k in kids)
        assert _alive(bystander.pid)
        assert "ended 2 leftover Ray processes" in capsys.readouterr().err
        assert end_leftover_ray(sweep) == 0 and not (sweep / SESSION_FILE).exists()
    finally:
        for proc in (bystander, driver):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "record",
    [
        "/tmp/ray/session_2026-01-01_00-00-00_000000_1\n",  # the old text record
        "session_",  # damaged
        "{}",
        json.dumps({"boot": "x", "driver": {"pid": 1, "start": 1}, "processes": "all"}),
    ],
)
def test_a_damaged_or_foreign_record_ends_nothing(tmp_path: Path, record):
    bystander = subprocess.Popen([sys.executable, "-c", SLEEPER, "session_"])
    try:
        (tmp_path / SESSION_FILE).write_text(record)
        assert end_leftover_ray(tmp_path) == 0
        assert _alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_a_reused_pid_is_not_ended(tmp_path: Path):
    """A record naming a live process with another start time: the PID was given to a new
    process after the recorded one ended."""
    bystander = subprocess.Popen([sys.executable, "-c", SLEEPER])
    try:
        time.sleep(0.05)
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        record = {
            "boot": boot,
            "driver": {"pid": 2**22 + 1, "start": 1},  # gone
            "processes": [{"pid": bystander.pid, "start": _start_time(bystander.pid) - 1}],
        }
        (tmp_path / SESSION_FILE).write_text(json.dumps(record))
        assert end_leftover_ray(tmp_path) == 0
        assert _alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


@pytest.mark.ray
def test_a_sigkilled_drivers_ray_agents_are_ended_at_the_next_start(tmp_path: Path):
    """Through a real local Ray: the driver is killed with SIGKILL mid-sweep; what it recorded
    and still runs (Ray's dashboard and runtime-env agents) is ended by the next start."""
    spec = {
        "name": "killed",
        "model": {"size": "gpt-20k", "seq_len": 32},
        "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 200_000}},
        "trainer": {"batch_size": 8, "max_tokens": 400_000, "eval_tokens": 1024},
    }
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(spec))
    # A relative RAY_TMPDIR, which made Ray's start wait 30 s and end in a traceback (in a
    # short folder: Ray's socket paths must stay under the kernel's 107 characters).
    cwd = Path(tempfile.mkdtemp(dir="/tmp"))
    # Its own home and cache too: the Ray it starts writes its auth token under ~/.ray, which
    # the session's shared Ray and the sweeps of later tests read.
    (cwd / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {
        "RAY_TMPDIR": "rt",
        "HOME": str(cwd / "home"),
        "SCALESWEEP_CACHE": str(cwd / "cache"),
    }
    cmd = [sys.executable, "-m", "sweeps.run", str(path), "--storage", str(tmp_path), "--no-view"]
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    record = tmp_path / "killed" / SESSION_FILE
    try:
        deadline = time.monotonic() + 120
        while not record.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert record.exists(), "the driver never recorded its Ray"
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (cwd / "rt" / "ray").is_dir()
    pairs = [(p["pid"], p["start"]) for p in json.loads(record.read_text())["processes"]]
    time.sleep(2)  # what dies with the driver has died
    survivors = [pid for pid, start in pairs if _start_time(pid) == start and _alive(pid)]
    assert survivors, "expected Ray processes that outlive a SIGKILLed driver"
    assert end_leftover_ray(tmp_path / "killed") >= len(survivors)
    time.sleep(0.5)
    assert not [pid for pid, start in pairs if _start_time(pid) == start and _alive(pid)]
    shutil.rmtree(cwd, ignore_errors=True)
