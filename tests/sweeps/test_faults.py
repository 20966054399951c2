"""Faults of the machine around a sweep: secrets, leftover processes, pickles from elsewhere,
and SIGKILLs of the driver at random moments (the fault-injection test, marked ray)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps.errors import describe_crash
from sweeps.tune.ray_cluster import protect_token


def test_ray_token_is_made_readable_by_its_owner_only(tmp_path: Path):
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("secret")
    token.chmod(0o644)
    assert protect_token(tmp_path)
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert not protect_token(tmp_path)  # already private


def test_rl_checkpoints_load_only_from_the_trials_own_folder(tmp_path: Path):
    from rl.trial import check_own_checkpoint

    root = tmp_path / "trial"
    (root / "checkpoints" / "latest").mkdir(parents=True)
    latest = root / "checkpoints" / "latest"
    assert check_own_checkpoint(str(latest), root) == latest.resolve()
    elsewhere = tmp_path / "downloaded"
    elsewhere.mkdir()
    os.symlink(elsewhere, root / "sneaky")
    for path in (elsewhere, root / "sneaky", root / ".." / "downloaded"):
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
        (
            "The actor is dead because its node has died. Node Id: 5e1f0c2a9b7d44aa "
            "the node was inferred to be dead due to missing heartbeats.",
            "node died (node 5e1f0c2a9b7d)",
        ),
        (
            "The actor 54a63317e8f0 is unavailable: The actor is temporarily unavailable: "
            "RpcError: RPC error: Socket closed rpc_code: 14. The task may or may not have "
            "been executed on the actor.",
            "unreachable (connection closed",
        ),
        ("", "no reason"),
    ],
)
def test_a_dead_trial_process_is_described_by_what_ray_recorded(ray_text, expected):
    line = describe_crash(ray_text)
    assert expected in line and "\n" not in line


KILLS_ENV = "SCALESWEEP_FAULT_KILLS"
"""How many times the fault-injection test kills the driver (default 3)."""
SEED_ENV = "SCALESWEEP_FAULT_SEED"
"""Seed of the moments it kills at (default 0), so a failure can be replayed."""
REPO = Path(__file__).resolve().parents[2]
STEPS = [8, 16, 24, 32]  # 8192 tokens / (8 sequences x 32 tokens), evaluated every 8 steps


def _fault_spec(path: Path) -> Path:
    import yaml

    spec = {
        "name": "faults",
        "model": {"size": {"grid": ["gpt-20k", "gpt-50k"]}, "seq_len": 32},
        "data": {
            "dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 40_000},
            "fraction": {"grid": [0.5, 1.0]},
        },
        "trainer": {
            "batch_size": 8,
            "max_tokens": 8192,
            "eval_interval_steps": 8,
            "eval_tokens": 512,
        },
        "resources": {"max_concurrent_trials": 2},
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def _attempts(sweep: Path) -> dict[str, int]:
    """Attempts per trial id, from each trial folder's attempts.log."""
    return {
        log.parent.name.rsplit("-", 1)[1]: len(log.read_text().splitlines())
        for log in (sweep / "trials").glob("*/attempts.log")
    }


@pytest.mark.ray
def test_sigkill_of_the_driver_at_random_moments_loses_and_reruns_nothing(
    ray_session, tmp_path: Path
):
    import random
    import signal
    import time

    import pandas as pd

    from sweeps.cli import main

    rng = random.Random(int(os.environ.get(SEED_ENV, "0")))
    spec = _fault_spec(tmp_path / "faults.yaml")
    sweep = tmp_path / "faults"
    # The drivers join the tests' Ray (starting one each would not fit the time budget); a
    # killed driver's trials end with it, as its job does.
    env = {**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    finished_at: dict[str, int] = {}  # trial id -> attempts when first seen finished
    for kill in range(int(os.environ.get(KILLS_ENV, "3"))):
        args = [sys.executable, "-m", "sweeps.run", str(spec), "--storage", str(tmp_path)]
        proc = subprocess.Popen(
            args + (["--resume"] if kill else []),
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # A moment while trials run: after one has started, plus a seeded random delay.
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            trials = sweep / "trials.csv"
            if trials.exists() and "RUNNING" in trials.read_text():
                break
            time.sleep(0.2)
        time.sleep(rng.uniform(0.0, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        trials = pd.read_csv(sweep / "trials.csv")  # parses after every kill
        attempts = _attempts(sweep)
        for trial_id in trials.loc[trials["status"] == "TERMINATED", "trial_id"]:
            finished_at.setdefault(trial_id, attempts.get(trial_id, 0))

    assert main([str(spec), "--storage", str(tmp_path), "--resume"]) == 0
    trials, curves = pd.read_csv(sweep / "trials.csv"), pd.read_csv(sweep / "curves.csv")
    assert len(trials) == 4 and set(trials["status"]) == {"TERMINATED"}
    attempts = _attempts(sweep)
    for trial_id, count in finished_at.items():  # finished before a kill: never run again
        assert attempts[trial_id] == count, trial_id
    assert not curves.duplicated(["trial_id", "step"]).any()
    by_trial = curves.groupby("trial_id")["step"].apply(sorted).to_dict()
    assert by_trial == {trial_id: STEPS for trial_id in trials["trial_id"]}


def test_first_signal_asks_to_stop_and_a_second_aborts(capsys):
    import signal

    from sweeps.tune.interrupt import INTERRUPT

    before = signal.getsignal(signal.SIGTERM)
    with INTERRUPT:
        assert INTERRUPT.exit_status is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert INTERRUPT.requested and INTERRUPT.exit_status == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) == before
    assert "SIGTERM: stopping the sweep" in capsys.readouterr().err


def test_a_full_disk_during_the_sweep_is_one_line_and_a_failure_exit(
    tmp_path: Path, monkeypatch, capsys
):
    import errno

    import sweeps.tune.runner
    from sweeps.cli import main
    from sweeps.folder.tables import TableWriteError

    def full(*args, **kwargs):
        try:
            raise TableWriteError(errno.ENOSPC, f"{tmp_path}/t/trials.csv: no space left on device")
        except TableWriteError as err:
            raise RuntimeError("Tune wrapped it") from err

    monkeypatch.setattr(sweeps.tune.runner, "run_sweep", full)
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "name: t\nmodel: {size: gpt-20k}\n"
        "data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 20000}}\n"
        "trainer: {max_tokens: 4096, batch_size: 4}\n"
    )
    assert main([str(spec), "--storage", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "trials.csv: no space left on device" in err
