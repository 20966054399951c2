"""Shared fixtures of the RL tests: one private local Ray instance for the whole session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

# Set before anything imports Ray (Ray reads it into its cached config): a local test cluster
# needs no token auth, and leaving it unset makes ray.init adopt (or write) ~/.ray/auth_token.
os.environ["RAY_AUTH_MODE"] = "disabled"


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """ray.init(num_cpus=2) once per session, in a private temp folder removed at the end."""
    import ray

    # Short path: Ray's Unix socket paths live under it and must stay under ~107 characters.
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp_dir,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
