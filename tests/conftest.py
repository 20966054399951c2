"""Test-session set-up: a private home and cache, and one shared local Ray instance.

Ray 2.60 turns token authentication on for clusters it starts and keeps the token in
~/.ray/auth_token; a private HOME makes every test session start from the same state, with
authentication left on. `ray.init` costs seconds here, so all Ray tests share one instance.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="ss-tests-"))
os.environ["HOME"] = str(_SESSION_ROOT / "home")
os.environ.setdefault("SCALESWEEP_CACHE", str(_SESSION_ROOT / "cache"))
os.environ["RAY_TMPDIR"] = str(_SESSION_ROOT / "ray")
# The live scaling page fits in the background as trials finish; only its own test wants it.
os.environ.setdefault("SCALESWEEP_NO_VIEW", "1")
Path(os.environ["HOME"]).mkdir(parents=True, exist_ok=True)

REPO_ROOT = Path(__file__).resolve().parents[1]


GPU_NODE_RESOURCES = {"special": 2.0}
"""Custom resource only the simulated GPU node has (Train workers are placed with it)."""


@pytest.fixture(scope="session")
def ray_cluster():
    """One simulated two-node Ray cluster for every Ray test of the session.

    Head: 2 CPUs. Second node: 1 CPU, a fake `GPU: 1` and the custom resource `special`,
    so placement can be tested on a CPU-only machine (CPU torch cannot use the GPU; trials
    that reserve it train on the CPU).
    """
    import ray
    from ray.cluster_utils import Cluster

    from sweeps.tune.ray_cluster import WORKER_ENV, _with_project_on_path

    os.environ.update(WORKER_ENV)  # nodes and their workers inherit this environment
    _with_project_on_path()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 2, "include_dashboard": False},
    )
    gpu_node = cluster.add_node(num_cpus=1, num_gpus=1, resources=dict(GPU_NODE_RESOURCES))
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    cluster.gpu_node_id = gpu_node.node_id
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def ray_session(ray_cluster):
    """The shared Ray instance (the simulated cluster above)."""
    import ray

    return ray
