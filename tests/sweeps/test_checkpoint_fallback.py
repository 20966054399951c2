"""A damaged latest checkpoint: the trial resumes from `previous`, and attempts.log and the
driver's output say so (not only the worker's log)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sweeps.cli import main

REPO = Path(__file__).resolve().parents[2]
SPEC = {
    "name": "fallback",
    "model": {"size": "gpt-20k", "seq_len": 32},
    "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 400_000}},
    "trainer": {
        "batch_size": 8,
        "max_tokens": 81920,
        "eval_interval_steps": 10,
        "eval_tokens": 1024,
    },
}


@pytest.mark.ray
def test_damaged_latest_checkpoint_is_said_in_attempts_log_and_driver_output(
    ray_session, tmp_path: Path, capsys
):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    env = {**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    cmd = [sys.executable, "-m", "sweeps.run", str(spec), "--storage", str(tmp_path)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    trials = tmp_path / "fallback" / "trials"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if list(trials.glob("*/checkpoints/previous/state.pt")):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the sweep ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
    finally:
        proc.kill()
    (trial_dir,) = trials.iterdir()
    state = trial_dir / "checkpoints" / "latest" / "state.pt"
    state.write_bytes(b"\x00garbage" * 10)
    capsys.readouterr()
    assert main([str(spec), "--storage", str(tmp_path), "--resume"]) == 0
    err = capsys.readouterr().err
    attempts = (trial_dir / "attempts.log").read_text().splitlines()
    assert len(attempts) == 2
    assert "resumed from checkpoints/previous" in attempts[1], attempts
    assert f"{state} is unreadable" in attempts[1]
    assert "resumed from checkpoints/previous" in err and str(state) in err
