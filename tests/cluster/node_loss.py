"""A sweep that loses a node: its command, and the watch that kills the worker machine while one
of its trials runs with a checkpoint on the shared storage, then times what follows.

    sweep = pool.submit(cluster.exec, loss_sweep(storage, "lost"), 600)
    times = kill_worker_mid_trial(cluster, storage / "lost")
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from contract.metrics import STEP
from contract.results import (
    ATTEMPTS_FILE,
    NODE,
    RETRIES,
    RUNNING,
    STATUS,
    TRIAL_ID,
    TRIALS_FILE,
    find_trial_dir,
    trial_checkpoints,
)
from tests.cluster.ssh_cluster import WORKER, LoopbackCluster
from trainers.checkpoint import LATEST
from trainers.ray_worker import REPORT_FILE

RETRY_SETTING = "run.max_failures=2"
"""What lets Tune start a lost node's trials again (the default, 0, records them as failed)."""


def loss_sweep(storage: Path, name: str) -> str:
    """The README's cluster sweep command on two longer smoke trials (one per node, each ~30 s,
    a checkpoint every 25 steps) that may be retried: the sweep the test loses a node in."""
    return (
        f"cd ~/scalesweep && python -m sweeps.run sweeps/smoke.yaml --address auto "
        f"--storage {storage} --no-view --name {name} --set {RETRY_SETTING} "
        "--set model.size=gpt-50k --set trainer.max_tokens=102400 "
        "--set trainer.eval_interval_steps=25 --set trainer.eval_tokens=2048"
    )


def rows(sweep: Path) -> list[dict[str, str]]:
    """trials.csv as it is now ([] before the driver wrote it)."""
    try:
        with (sweep / TRIALS_FILE).open(newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error):
        return []


def attempts(sweep: Path, trial_id: str) -> list[str]:
    """The lines of a trial's attempts.log: one per start, where it resumed from."""
    folder = find_trial_dir(sweep, trial_id)
    try:
        return (folder / ATTEMPTS_FILE).read_text().splitlines() if folder else []
    except OSError:
        return []


@dataclass
class Loss:
    """What the watch saw: the trial it cost a restart and when things happened."""

    trial_id: str = ""
    killed: list[int] = field(default_factory=list)
    kill_at: float = 0.0
    failed_s: float = 0.0
    """Kill to Tune's recording the trial's failure (its retries column set)."""
    back_s: float = 0.0
    """Kill to the trial's next attempt starting (a new line in its attempts.log)."""
    step: str = ""
    """The lost trial's last reported step at the kill, and its checkpoint's (what it redoes)."""
    checkpoint_step: str = ""
    others: list[str] = field(default_factory=list)
    """The other trials' statuses at the kill (RUNNING: the head's slot was taken)."""


def _on_worker_with_checkpoint(sweep: Path) -> str | None:
    for row in rows(sweep):
        if row.get(STATUS) == RUNNING and row.get(NODE) == WORKER:
            folder = find_trial_dir(sweep, row[TRIAL_ID])
            if folder and (trial_checkpoints(folder) / LATEST).is_dir():
                return row[TRIAL_ID]
    return None


def kill_worker_mid_trial(cluster: LoopbackCluster, sweep: Path, limit_s: float = 300) -> Loss:
    """Wait for a trial running on the worker with a checkpoint, lose the worker machine, and
    time the trial's failure and its next start."""
    loss = Loss()
    deadline = time.monotonic() + limit_s
    while not (found := _on_worker_with_checkpoint(sweep)):
        assert time.monotonic() < deadline, f"no trial with a checkpoint on {WORKER}: {rows(sweep)}"
        time.sleep(0.5)
    loss.trial_id = found
    loss.kill_at = time.monotonic()
    loss.killed = cluster.lose(WORKER)
    now = rows(sweep)
    loss.step = next((r.get(STEP, "") for r in now if r[TRIAL_ID] == found), "")
    loss.others = [r[STATUS] for r in now if r[TRIAL_ID] != found]
    report = trial_checkpoints(find_trial_dir(sweep, found)) / LATEST / REPORT_FILE
    try:
        loss.checkpoint_step = str(json.loads(report.read_text()).get(STEP, ""))
    except (OSError, ValueError):
        pass
    while not loss.back_s:
        assert time.monotonic() < deadline, f"no retry of {found}: {rows(sweep)}"
        now = time.monotonic() - loss.kill_at
        row = next((r for r in rows(sweep) if r[TRIAL_ID] == found), {})
        if not loss.failed_s and row.get(RETRIES):
            loss.failed_s = now
        if len(attempts(sweep, found)) > 1:
            loss.back_s = now
        time.sleep(0.5)
    return loss
