"""The README's cluster commands for real, on one cluster started once for the module (`ray up`
costs one to two minutes): `ray up docs/cluster-onprem.yaml` over SSH starts a head (127.0.0.1)
and a worker (127.0.0.2) and `ray status` shows both; a sweep submitted with `ray exec ...
--address auto` runs trials on both nodes, and a user signed in with the token through `ray
dashboard`'s forward finds its trial actors, named by their trial folders, in the dashboard's
API and on its Actors page; the worker machine is lost mid-sweep and its trial goes on on the
head from its last checkpoint, nothing finished lost or run again; `ray down` stops every Ray
process of the nodes. The tests run in this order and share the cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from contract.metrics import STEP, TOKENS
from contract.results import (
    CURVES_FILE,
    FINISHED,
    NODE,
    RETRIED_AFTER,
    RETRIES,
    STATUS,
    TRIAL_ID,
    TRIALS_DIR,
    TRIALS_FILE,
)
from tests.cluster.node_loss import attempts, kill_worker_mid_trial, loss_sweep
from tests.cluster.ssh_cluster import HEAD, WORKER, LoopbackCluster, unavailable

pytestmark = pytest.mark.cluster

WHY = unavailable()
if WHY is not None:
    pytest.skip(f"skipped: {WHY}", allow_module_level=True)

SWEEP = (
    "cd ~/scalesweep && python -m sweeps.run sweeps/smoke.yaml --address auto "
    "--storage ~/results --no-view"
)
"""The README's sweep command on the smoke sweep (4 trials of a few seconds, 2 sizes)."""
FORWARD_PORT = "8266"
"""`ray dashboard --port`: the laptop's end of the SSH forward to the head's dashboard (8265 is
taken here, where the "laptop" shares the head's loopback)."""
DASHBOARD = f"http://127.0.0.1:{FORWARD_PORT}"
DASHBOARD_SCRIPT = str(Path(__file__).with_name("dashboard.py"))
"""Run inside the cluster's namespace, where the dashboard is (tests/cluster/dashboard.py)."""
SCREENSHOT_ENV = "SCALESWEEP_DASHBOARD_PNG"
"""Where to keep the dashboard's picture (the README's docs/dashboard.png), if set."""


def alive_nodes(cluster: LoopbackCluster) -> list[str]:
    """IPs of the live nodes, as a driver on the head sees them ([] while it cannot connect)."""
    out = cluster.ray(
        "exec",
        'python -c \'import ray; ray.init(address="auto", logging_level="ERROR"); '
        'print("N" "ODES=" + ",".join(sorted(n["NodeManagerAddress"] for n in ray.nodes() '
        'if n["Alive"])))\'',
    ).stdout
    found = re.search(r"NODES=([\d.,]+)", out)  # the command's echo has no "NODES="
    return found.group(1).split(",") if found else []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The loopback cluster after `ray up`, with both nodes alive."""
    with LoopbackCluster(tmp_path_factory.mktemp("cluster")) as cluster:
        start = time.monotonic()
        up = cluster.ray("up", "-y", "--no-config-cache", timeout=300)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        deadline = time.monotonic() + 120  # the head's autoscaler starts the worker
        while (nodes := alive_nodes(cluster)) != [HEAD, WORKER]:
            assert time.monotonic() < deadline, f"nodes alive: {nodes}\n{cluster.monitor_log()}"
            time.sleep(3)
        print(f"ray up to two nodes {time.monotonic() - start:.0f} s")
        yield cluster


def test_ray_up_starts_two_nodes(cluster: LoopbackCluster):
    status = cluster.exec("ray status")
    assert "2 local.cluster.node" in status or status.count("local.cluster.node") == 2


def test_a_sweep_runs_on_both_nodes_and_the_dashboard_shows_its_trial_actors(
    cluster: LoopbackCluster,
):
    token = cluster.home / ".ray" / "auth_token"
    picture = cluster.dir / "dashboard.png"
    seen: list[dict] = []
    forward = cluster.ray_background("dashboard", "--port", FORWARD_PORT)
    with ThreadPoolExecutor(1) as pool:
        start = time.monotonic()
        sweep = pool.submit(cluster.exec, SWEEP, 300)
        page = ""
        while not sweep.done():
            ask = (sys.executable, DASHBOARD_SCRIPT, "actors", DASHBOARD, str(token))
            got = json.loads(cluster.in_namespace(*ask))
            if got["anonymous"] == 0:  # the forward is not up yet
                assert forward.poll() is None, "ray dashboard ended"
                time.sleep(1)
                continue
            assert (got["anonymous"], got["wrong_token"], got["sign_in"]) == (401, 403, 200), got
            seen += [a for a in got["actors"] if a["class_name"] == "SweepTrial"]
            nodes = {a["node_ip"] for a in seen if a["state"] == "ALIVE"}
            if not page and nodes == {HEAD, WORKER}:  # a trial on each node: the picture
                shot = (sys.executable, DASHBOARD_SCRIPT, "screenshot", DASHBOARD, str(token))
                page = json.loads(cluster.in_namespace(*shot, str(picture)))["text"]
                if os.environ.get(SCREENSHOT_ENV):
                    shutil.copy(picture, os.environ[SCREENSHOT_ENV])
            time.sleep(2)
        sweep.result()
        sweep_s = time.monotonic() - start
    os.killpg(forward.pid, signal.SIGTERM)
    forward.wait(30)
    smoke = cluster.home / "results/smoke"
    trials = pd.read_csv(smoke / TRIALS_FILE)  # the head's disk
    assert (trials[STATUS] == FINISHED).all() and len(trials) == 4, trials
    assert set(trials[NODE]) == {HEAD, WORKER}, trials[NODE]
    folders = {p.name for p in (smoke / TRIALS_DIR).iterdir()}
    # Trial processes are reused (FIFO sweeps): an actor keeps the name of its first trial.
    names = {a["repr_name"] for a in seen if a["repr_name"]}
    assert names and names <= folders, (names, folders)
    assert {a["node_ip"] for a in seen if a["repr_name"]} == {HEAD, WORKER}, seen
    assert page and any(name in page for name in names), page[:2000]
    print(f"sweep across two nodes {sweep_s:.0f} s; dashboard actors: {sorted(names)}")


def test_a_lost_worker_machine_costs_its_trial_a_restart_from_its_checkpoint(
    cluster: LoopbackCluster,
):
    storage = cluster.dir / "shared"  # both "machines" mount it at the same path
    storage.mkdir()
    shutil.chown(storage, cluster.user, cluster.user)
    start = time.monotonic()
    cluster.exec(loss_sweep(storage, "kept"), timeout=400)
    kept_s = time.monotonic() - start
    with ThreadPoolExecutor(1) as pool:
        start = time.monotonic()
        sweep = pool.submit(cluster.exec, loss_sweep(storage, "lost"), 400)
        loss = kill_worker_mid_trial(cluster, storage / "lost")
        out = sweep.result()
        lost_s = time.monotonic() - start
    assert loss.killed, "no process of the worker was found to kill"
    trials = pd.read_csv(storage / "lost" / TRIALS_FILE).set_index(TRIAL_ID)
    assert (trials[STATUS] == FINISHED).all() and len(trials) == 2, trials
    assert set(trials[NODE]) == {HEAD}, trials[NODE]  # the retried trial ended on the head
    retried = trials.loc[loss.trial_id]
    cause = retried[RETRIED_AFTER]  # Ray's first word on it, and the node it was lost on
    assert retried[RETRIES] == 1 and cause.endswith(f" on {WORKER}"), retried.to_dict()
    assert "unreachable" in cause or "node died" in cause, cause
    assert "started again from its latest checkpoint" in out
    for trial_id in trials.index:  # the head's trial ran once; the lost one resumed
        lines = attempts(storage / "lost", trial_id)
        if trial_id == loss.trial_id:
            assert len(lines) == 2 and "resumed from checkpoints/latest" in lines[1], lines
        else:
            assert len(lines) == 1 and pd.isna(trials.loc[trial_id, RETRIES]), lines
    curves = pd.read_csv(storage / "lost" / CURVES_FILE)
    for _, curve in curves.groupby(TRIAL_ID):  # no step reported twice or lost
        assert curve[STEP].is_monotonic_increasing and not curve[STEP].duplicated().any()
    kept = pd.read_csv(storage / "kept" / TRIALS_FILE).set_index(TRIAL_ID)
    assert (trials[TOKENS] == kept.loc[trials.index, TOKENS]).all()
    print(
        f"node loss: kill to failure recorded {loss.failed_s:.0f} s, to the trial running "
        f"again {loss.back_s:.0f} s; sweep {kept_s:.0f} s without the loss, {lost_s:.0f} s "
        f"with it; killed {len(loss.killed)} processes at step {loss.step} (checkpoint "
        f"{loss.checkpoint_step}), the other trial {loss.others}"
    )


def test_ray_down_stops_every_ray_process(cluster: LoopbackCluster):
    start = time.monotonic()
    down = cluster.ray("down", "-y", timeout=120)
    assert down.returncode == 0, down.stderr[-3000:]
    owners = [Path(f"/proc/{pid}/status").read_text() for pid in cluster.pids()]
    ray_left = [s.split("\n", 1)[0] for s in owners if "raylet" in s or "gcs_server" in s]
    assert not ray_left, ray_left
    print(f"ray down {time.monotonic() - start:.0f} s")
