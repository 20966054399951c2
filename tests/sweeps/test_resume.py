"""Nothing lost: kill -9 and resume, a killed trial process, a diverging trial, a grown grid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from contract.results import RETRIED_AFTER, RETRIES
from sweeps.cli import main

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.ray


def write_spec(path: Path, sizes: list[str], fractions: list[float], **extra) -> Path:
    spec = {
        "name": extra.pop("name", "resume"),
        "model": {"size": {"grid": sizes}, "seq_len": 32},
        "data": {
            "dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 60_000},
            "fraction": {"grid": fractions},
        },
        "trainer": {
            "batch_size": 8,
            "max_tokens": extra.pop("max_tokens", 8192),
            "eval_interval_steps": extra.pop("eval_every", 8),
            "eval_tokens": 1024,
        },
        **extra,
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def read_tables(sweep: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(sweep / "trials.csv"), pd.read_csv(sweep / "curves.csv")


def test_sigkill_of_the_driver_then_resume(ray_session, tmp_path: Path, capsys):
    # Trials run one at a time and long enough that the kill lands while the sweep is busy.
    spec = write_spec(
        tmp_path / "s.yaml",
        ["gpt-20k", "gpt-50k"],
        [0.5, 1.0],
        max_tokens=40960,
        eval_every=10,
        resources={"max_concurrent_trials": 1},
    )
    env = {**os.environ, "RAY_ADDRESS": ""}
    env.pop("RAY_ADDRESS")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweeps.run", str(spec), "--storage", str(tmp_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sweep = tmp_path / "resume"
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            trials_csv = sweep / "trials.csv"
            if trials_csv.exists() and (pd.read_csv(trials_csv)["status"] == "TERMINATED").any():
                break
            assert proc.poll() is None, "sweep ended before it could be killed"
            time.sleep(0.5)
        else:
            pytest.fail("no trial finished in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        proc.wait()
    before, curves_before = read_tables(sweep)
    first = before.loc[before["status"] == "TERMINATED", "trial_id"].tolist()
    assert 1 <= len(first) < 4

    assert main([str(spec), "--storage", str(tmp_path), "--resume"]) == 0
    after, curves = read_tables(sweep)
    assert len(after) == 4 and set(after["status"]) == {"TERMINATED"}
    assert not curves.duplicated(["trial_id", "step"]).any()
    for trial_id in first:  # finished before the kill: not re-run, curve untouched
        assert curves[curves.trial_id == trial_id].equals(
            curves_before[curves_before.trial_id == trial_id]
        )
    assert "already done" in capsys.readouterr().out


def test_killed_trial_process_resumes_from_its_checkpoint(ray_session, tmp_path: Path):
    spec = write_spec(
        tmp_path / "s.yaml",
        ["gpt-50k"],
        [1.0],
        name="retry",
        max_tokens=40960,
        eval_every=10,
        run={"max_failures": 1},
    )
    storage = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import os, sys, time, pathlib, signal
root = pathlib.Path({str(storage)!r}) / "retry" / "trials"
while True:
    logs = list(root.glob("*/attempts.log")) if root.exists() else []
    ckpt = [p for p in root.glob("*/checkpoints/latest/state.pt")] if root.exists() else []
    if logs and ckpt:
        pid = int(logs[0].read_text().split("pid=")[1].split()[0])
        os.kill(pid, signal.SIGKILL)
        break
    time.sleep(0.2)
""",
        ]
    )
    try:
        assert main([str(spec), "--storage", str(storage)]) == 0
    finally:
        proc.kill()
    trials, curves = read_tables(storage / "retry")
    assert trials["status"].tolist() == ["TERMINATED"]
    (trial_dir,) = (storage / "retry" / "trials").iterdir()
    attempts = (trial_dir / "attempts.log").read_text().splitlines()
    assert len(attempts) == 2 and "resumed from checkpoints/latest" in attempts[1]
    assert trials[RETRIES].item() == 1 and "trial process" in trials[RETRIED_AFTER].item()
    assert trials["tokens"].item() == 40960
    assert curves["step"].is_monotonic_increasing and not curves["step"].duplicated().any()


def test_diverging_trial_fails_with_reason_and_others_finish(ray_session, tmp_path: Path):
    spec = write_spec(
        tmp_path / "s.yaml",
        ["gpt-20k"],
        [1.0],
        name="nan",
        optim={"lr": {"grid": [3e-3, 1e4]}, "grad_clip": None},
    )
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    trials, _ = read_tables(tmp_path / "nan")
    by_lr = trials.set_index("optim.lr")
    assert by_lr.loc[3e-3, "status"] == "TERMINATED"
    assert by_lr.loc[1e4, "status"] == "ERROR"
    assert "nan" in by_lr.loc[1e4, "error"].lower() or "inf" in by_lr.loc[1e4, "error"].lower()


def test_grown_grid_runs_only_new_points_and_changed_spec_is_refused(
    ray_session, tmp_path: Path, capsys
):
    spec = write_spec(tmp_path / "s.yaml", ["gpt-20k"], [0.5, 1.0], name="grow")
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    _, curves = read_tables(tmp_path / "grow")
    capsys.readouterr()
    grown = write_spec(tmp_path / "s.yaml", ["gpt-20k", "gpt-50k"], [0.5, 1.0], name="grow")
    assert main([str(grown), "--storage", str(tmp_path)]) == 0
    assert "2 trials to run, 2 already done" in capsys.readouterr().out
    trials, curves_after = read_tables(tmp_path / "grow")
    assert len(trials) == 4 and set(trials["status"]) == {"TERMINATED"}
    old = curves_after[curves_after.trial_id.isin(curves.trial_id)].reset_index(drop=True)
    assert old.equals(curves.reset_index(drop=True))

    changed = write_spec(tmp_path / "s.yaml", ["gpt-20k"], [0.5], name="grow", optim={"lr": 0.01})
    assert main([str(changed), "--storage", str(tmp_path)]) == 2
    assert "different spec" in capsys.readouterr().err
    assert len(pd.read_csv(tmp_path / "grow" / "trials.csv")) == 4
    assert json.loads((next((tmp_path / "grow" / "trials").iterdir()) / "config.json").read_text())[
        "trial_id"
    ]


def _start(spec: Path, storage: Path, *extra: str) -> subprocess.Popen:
    import ray

    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    return subprocess.Popen(
        [sys.executable, "-m", "sweeps.run", str(spec), "--storage", str(storage), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_running(sweep: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        trials = sweep / "trials.csv"
        if trials.exists() and "RUNNING" in trials.read_text():
            return
        assert proc.poll() is None, "sweep ended before it could be stopped"
        time.sleep(0.2)
    pytest.fail("no trial started in time")


def test_sigterm_then_ctrl_c_twice_stop_cleanly_and_the_printed_command_continues(
    ray_session, tmp_path: Path
):
    spec = write_spec(
        tmp_path / "s.yaml",
        ["gpt-20k", "gpt-50k"],
        [0.5, 1.0],
        name="stop",
        max_tokens=20480,
        eval_every=10,
        resources={"max_concurrent_trials": 1},
    )
    sweep = tmp_path / "stop"
    proc = _start(spec, tmp_path)
    _wait_running(sweep, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    trials = pd.read_csv(sweep / "trials.csv")
    assert "RUNNING" not in set(trials["status"]) and "INTERRUPTED" in set(trials["status"])
    assert "stopped by SIGTERM" in out
    command = err.strip().splitlines()[-1]
    assert command.startswith("continue with: python -m sweeps.run") and "--resume" in command

    proc = _start(spec, tmp_path, "--resume")
    _wait_running(sweep, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)  # the second one aborts at once
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "continue with:" in err and "Traceback" not in err
    assert "RUNNING" not in set(pd.read_csv(sweep / "trials.csv")["status"])

    assert main([str(spec), "--storage", str(tmp_path), "--resume"]) == 0
    trials, curves = read_tables(sweep)
    assert set(trials["status"]) == {"TERMINATED"} and len(trials) == 4
    assert not curves.duplicated(["trial_id", "step"]).any()
