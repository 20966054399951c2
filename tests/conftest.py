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
Path(os.environ["HOME"]).mkdir(parents=True, exist_ok=True)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance (2 CPUs, no dashboard) for every Ray test of the session."""
    import ray

    from sweeps.cluster import WORKER_ENV, _with_project_on_path

    os.environ.update(WORKER_ENV)
    _with_project_on_path()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths are capped
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp_dir,
        log_to_driver=False,
        logging_level="ERROR",
        runtime_env={"env_vars": dict(WORKER_ENV)},
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def shared_data() -> Path:
    """The shared test data folder; tests that need it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA
