"""Idle cores at a sweep's tail: the driver's grants (a pure policy and its events), and a real
Tune sweep whose last trial is granted its host's idle core."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from contract.metrics import THREADS, TOKENS
from contract.results import TRIAL_ID, TRIALS_DIR
from sweeps.cli import main
from sweeps.plan.resources import WorkerResources
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import load_spec
from sweeps.tune.tail_threads import RunningTrial, TailThreads, grant_threads, sweep_allowance
from trainers.threads import THREADS_FILE, THREADS_LOG, read_grant

REPO = Path(__file__).resolve().parents[2]


def running(name: str, host: str | None = "h", work: float = 1e12, **kw) -> RunningTrial:
    fields = dict(cpus=1.0, threads=1, can_grow=True) | kw
    return RunningTrial(name=name, host=host, work_left=work, **fields)


@pytest.mark.parametrize(
    ("pending", "trials", "hosts", "allowance", "grants"),
    [
        # the main job's tail on 2 cores: the last trial alone takes both
        (0, [running("a")], {"h": 2.0}, None, {"a": 2}),
        # steady state: a trial waits, so no core is spare, even an idle one
        (1, [running("a")], {"h": 2.0}, None, {}),
        (0, [running("a"), running("b")], {"h": 2.0}, None, {}),
        # spare cores go one at a time to the most work left per thread
        (0, [running("a", work=9e12), running("b", work=1e12)], {"h": 3.0}, None, {"a": 2}),
        (0, [running("a", work=9e12), running("b", work=4e12)], {"h": 4.0}, None, {"a": 3}),
        (0, [running("a", work=2e12), running("b", work=2e12)], {"h": 4.0}, None, {"a": 2, "b": 2}),
        # max_concurrent_trials caps what the sweep may use in all
        (0, [running("a")], {"h": 8.0}, 2.0, {"a": 2}),
        # each host lends only its own cores
        (0, [running("a", "h1"), running("b", "h2")], {"h1": 1.0, "h2": 3.0}, None, {"b": 3}),
        # a trial whose host is unknown (no report yet) counts on every host and grows nowhere
        (0, [running("a", None), running("b", "h2")], {"h1": 2.0, "h2": 2.0}, None, {}),
        # ...unless there is one host
        (0, [running("a", None)], {"h": 2.0}, None, {"a": 2}),
        # worker groups, GPU and RL trials keep their own threads (their cores still count)
        (0, [running("a", can_grow=False), running("b")], {"h": 3.0}, None, {"b": 2}),
        (0, [running("a", cpus=2.0, threads=2)], {"h": 4.0}, None, {"a": 4}),
        # fractional reservations: only whole spare cores are lent
        (0, [running("a", cpus=0.5), running("b", cpus=0.5)], {"h": 1.5}, None, {}),
        (0, [], {"h": 2.0}, None, {}),
    ],
)
def test_grants(pending, trials, hosts, allowance, grants) -> None:
    assert grant_threads(pending, trials, hosts, allowance) == grants


def test_allowance_is_the_slots_of_the_largest_trial() -> None:
    needs = [WorkerResources(cpus_per_worker=1), WorkerResources(cpus_per_worker=2)]
    assert sweep_allowance(None, needs) is None
    assert sweep_allowance(2, needs) == 4.0
    group = WorkerResources(workers=2, cpus_per_worker=1)  # + half a CPU for its driver
    assert sweep_allowance(1, [group]) == 2.5


def smoke_points():
    return make_plan(load_spec(REPO / "sweeps" / "smoke.yaml")).trials


def grants_on_disk(sweep: Path) -> dict[str, int]:
    return {p.parent.name: read_grant(p) for p in (sweep / TRIALS_DIR).glob(f"*/{THREADS_FILE}")}


def test_events_grant_the_tail_and_take_it_back(tmp_path: Path) -> None:
    """Four trials, two slots of a 2-core host: a grant only once nothing waits and a core
    is free; a retried trial takes it back; the end of the run clears every grant."""
    a, b, c, d = sorted(smoke_points(), key=lambda p: -p.flops)
    tail = TailThreads(tmp_path, total=4, allowance=None, hosts=lambda: {"10.0.0.1": 2.0})
    stale = tmp_path / TRIALS_DIR / "old-run" / THREADS_FILE
    stale.parent.mkdir(parents=True)
    stale.write_text("2\n")  # left by a killed driver
    tail.clear()
    assert not stale.exists()
    tail.started(a)
    tail.started(b)
    tail.ended(b)
    tail.started(c)
    assert grants_on_disk(tmp_path) == {}  # d still waits
    tail.ended(c)
    tail.started(d)
    tail.reported(a, "10.0.0.1", a.tokens / 2)
    assert grants_on_disk(tmp_path) == {}  # both cores busy
    tail.ended(d)
    assert grants_on_disk(tmp_path) == {a.dirname: 2}  # a alone: the idle core is its
    tail.recovered(a)  # a failed and waits for its retry
    assert grants_on_disk(tmp_path) == {}
    tail.started(a)
    assert grants_on_disk(tmp_path) == {a.dirname: 2}
    tail.clear()
    assert grants_on_disk(tmp_path) == {}


def test_switched_off_it_grants_nothing_but_still_clears(tmp_path: Path) -> None:
    (a,) = smoke_points()[:1]
    tail = TailThreads(tmp_path, total=1, allowance=None, enabled=False, hosts=lambda: {"h": 2})
    stale = tmp_path / TRIALS_DIR / a.dirname / THREADS_FILE
    stale.parent.mkdir(parents=True)
    stale.write_text("2\n")
    tail.clear()
    tail.started(a)
    assert grants_on_disk(tmp_path) == {}


def test_the_option_is_typed_and_leaves_the_folder_identity_alone() -> None:
    spec = load_spec(REPO / "sweeps" / "smoke.yaml")
    assert spec.resources.tail_threads is True
    off = load_spec(REPO / "sweeps" / "smoke.yaml", ["resources.tail_threads=false"])
    assert off.resources.tail_threads is False
    # How fast the last trials run is not what the sweep runs: a folder resumes either way.
    assert off.fingerprint() == spec.fingerprint()


TAIL_SWEEP = """\
name: tail
model: {size: gpt-10k, seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 400000}}
trainer: {batch_size: 8, eval_interval_steps: 25, eval_tokens: 512, compile: false,
          max_tokens: {grid: [%d, %d, %d]}}
resources: {max_concurrent_trials: 2}
"""


@pytest.mark.ray
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a second core to lend")
def test_the_last_trial_of_a_real_sweep_is_granted_the_idle_core(ray_session, tmp_path):
    """Two slots: the long trial runs beside two short ones with its own thread, then alone,
    granted the second core. It keeps it only if its steps got faster (on a machine busy
    with other work they may not), and its curve and threads.log say which it did."""
    steps = 8 * 32  # tokens per step
    spec = tmp_path / "tail.yaml"
    spec.write_text(TAIL_SWEEP % (100 * steps, 100 * steps + 1, 700 * steps))
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    sweep = tmp_path / "tail"
    trials = pd.read_csv(sweep / "trials.csv", dtype={TRIAL_ID: str})
    long_id = trials.loc[trials[TOKENS].idxmax(), TRIAL_ID]
    folders = {p.name.rsplit("-", 1)[-1]: p for p in (sweep / TRIALS_DIR).iterdir()}
    logs = {
        tid: (f / THREADS_LOG).read_text()
        for tid, f in folders.items()
        if (f / THREADS_LOG).exists()
    }
    assert set(logs) == {long_id}  # the short ones ran while a trial waited: no grant
    assert "granted 2" in logs[long_id]
    assert grants_on_disk(sweep) == {}  # no grant outlives the run
    curves = pd.read_csv(sweep / "curves.csv", dtype={TRIAL_ID: str})
    threads = curves.loc[curves[TRIAL_ID] == long_id, THREADS].tolist()
    assert threads[0] == 1  # beside the others: its own thread
    if "kept 2" in logs[long_id]:
        assert threads[-1] == 2
    else:  # the steps got no faster: it gave the core back and says so
        assert "gave back 2" in logs[long_id] and set(threads) == {1}
    others = curves.loc[curves[TRIAL_ID] != long_id, THREADS]
    assert set(others) == {1}
