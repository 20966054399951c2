"""An Optuna sweep whose driver was killed: the trials it left RUNNING run again on resume
(the same points, from their checkpoints), and nothing stays RUNNING."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from sweeps.cli import main
from sweeps.tune.optuna_study import (
    STUDY_NAME,
    journal_storage,
    requeue_abandoned,
)

REPO = Path(__file__).resolve().parents[2]
SPEC = """\
name: opt
model: {size: {choice: [gpt-10k, gpt-20k]}, seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 200000}}
optim: {lr: {loguniform: [1.0e-3, 1.0e-2]}}
trainer: {batch_size: 8, max_tokens: 49152, eval_interval_steps: 16, eval_tokens: 1024}
search: {algorithm: optuna, num_samples: 3}
resources: {max_concurrent_trials: 1}
"""


def test_running_trials_of_a_dead_driver_are_proposed_again(tmp_path: Path):
    storage = journal_storage(tmp_path)
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage)
    space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    finished, abandoned = study.ask(space), study.ask(space)
    study.tell(finished, 1.0)
    assert requeue_abandoned(tmp_path, "main") == 1
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert optuna.trial.TrialState.RUNNING not in states
    again = study.ask(space)
    assert again.params == abandoned.params
    assert requeue_abandoned(tmp_path / "none", "main") == 0


@pytest.mark.ray
def test_sigkill_of_an_optuna_sweep_then_resume_settles_every_trial(ray_session, tmp_path):
    spec = tmp_path / "opt.yaml"
    spec.write_text(SPEC)
    sweep = tmp_path / "opt"
    env = {**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address}
    cmd = [sys.executable, "-m", "sweeps.run", str(spec), "--storage", str(tmp_path)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            trials = sweep / "trials.csv"
            if trials.exists() and "RUNNING" in trials.read_text():
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert "RUNNING" in (sweep / "trials.csv").read_text()
    assert main([str(spec), "--storage", str(tmp_path), "--resume"]) == 0
    rows = pd.read_csv(sweep / "trials.csv")
    assert set(rows["status"]) == {"TERMINATED"} and len(rows) == 3
    study = optuna.load_study(study_name=STUDY_NAME, storage=journal_storage(sweep))
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3
