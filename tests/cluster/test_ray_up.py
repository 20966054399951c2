"""The README's cluster commands for real: `ray up docs/cluster-onprem.yaml` over SSH starts a
head (127.0.0.1) and a worker (127.0.0.2), `ray status` shows both, a sweep submitted with
`ray exec ... --address auto` runs trials on both nodes and trials.csv says which ran where,
and `ray down` stops every Ray process of the nodes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest

from contract.results import NODE
from tests.cluster.ssh_cluster import LoopbackCluster, unavailable

pytestmark = pytest.mark.cluster

WHY = unavailable()
if WHY is not None:
    pytest.skip(f"skipped: {WHY}", allow_module_level=True)

SWEEP = (
    "cd ~/scalesweep && python -m sweeps.run sweeps/smoke.yaml --address auto "
    "--storage ~/results --no-view"
)
"""The README's sweep command on the smoke sweep (4 trials of a few seconds, 2 sizes)."""


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


def test_ray_up_two_nodes_a_sweep_across_them_and_ray_down(tmp_path: Path):
    with LoopbackCluster(tmp_path) as cluster:
        start = time.monotonic()
        up = cluster.ray("up", "-y", "--no-config-cache", timeout=300)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        deadline = time.monotonic() + 120  # the head's autoscaler starts the worker
        while (nodes := alive_nodes(cluster)) != ["127.0.0.1", "127.0.0.2"]:
            assert time.monotonic() < deadline, f"nodes alive: {nodes}\n{cluster.monitor_log()}"
            time.sleep(3)
        up_s = time.monotonic() - start
        status = cluster.exec("ray status")
        assert "2 local.cluster.node" in status or status.count("local.cluster.node") == 2

        start = time.monotonic()
        cluster.exec(SWEEP, timeout=300)
        sweep_s = time.monotonic() - start
        trials = pd.read_csv(cluster.home / "results/smoke/trials.csv")  # the head's disk
        assert (trials["status"] == "TERMINATED").all() and len(trials) == 4, trials
        assert set(trials[NODE]) == {"127.0.0.1", "127.0.0.2"}, trials[NODE]

        start = time.monotonic()
        down = cluster.ray("down", "-y", timeout=120)
        assert down.returncode == 0, down.stderr[-3000:]
        down_s = time.monotonic() - start
        owners = [Path(f"/proc/{pid}/status").read_text() for pid in cluster.pids()]
        ray_left = [s.split("\n", 1)[0] for s in owners if "raylet" in s or "gcs_server" in s]
        assert not ray_left, ray_left
        print(f"ray up to two nodes {up_s:.0f} s, sweep {sweep_s:.0f} s, ray down {down_s:.0f} s")
