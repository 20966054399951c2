"""Start or join Ray, and make the project importable on every node.

available = connect(address=None)          # embedded local Ray, dashboard on 127.0.0.1
available = connect(address="auto")        # the cluster `ray up` / `ray start` made
available = connect(address="ray://head:10001")
end_leftover_ray(sweep_dir)   # what a killed earlier driver's local Ray left running
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sweeps.errors import SpecError
from sweeps.tune.leftovers import SESSION_FILE as SESSION_FILE  # the sweep-folder record
from sweeps.tune.leftovers import end_leftovers, record_launch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEALTH_CHECK_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
"""Train V2's controller poll; its 2 s default makes every report of a worker group wait."""
WORKER_ENV = {HEALTH_CHECK_ENV: "0.2", "RAY_AIR_NEW_OUTPUT": "1", "RAY_TRAIN_V2_ENABLED": "1"}
CODE_EXCLUDES = [".git", ".venv", "results", "**/__pycache__", "*.pt", "bench"]
TOKEN_FILE = Path(".ray") / "auth_token"
"""Ray's token for clusters with token authentication, under the home folder."""


def _with_project_on_path() -> None:
    """Local workers inherit this process's environment: put the checkout on PYTHONPATH."""
    parts = [str(PROJECT_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


def _needs_token_mode(address: str) -> bool:
    """An explicit host:port (or ray://) to a token-auth cluster times out with a misleading
    ConnectionError unless the token mode is set; only `auto` finds it by itself."""
    if address == "auto" or "RAY_AUTH_MODE" in os.environ:
        return False
    return (Path.home() / ".ray" / "auth_token").exists() or "RAY_AUTH_TOKEN" in os.environ


def check_address(address: str | None) -> None:
    """Validate `address` (or $RAY_ADDRESS) before anything is written; no-op for local Ray."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        _check_reachable(address)


def _check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Fail in seconds, with a clear message, where Ray would retry for half a minute."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SpecError(f"--address {address}: expected auto, host:port or ray://host:port")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise SpecError(
            f"--address {address}: nothing answers there ({err.strerror or err}); "
            "is the cluster up (`ray status` on its head)?"
        ) from None


def connect(
    address: str | None = None, ship_code: bool | None = None, sweep_dir: Path | None = None
) -> dict[str, float]:
    """Connect (or start) Ray and return the cluster's total resources.

    `ship_code`: upload this checkout as the job's working_dir (default: only for remote
    clusters reached through ray://, whose nodes may not have the project installed).
    `sweep_dir`: where to note the session of a local Ray started here (end_leftover_ray).
    """
    import ray

    os.environ.update({k: os.environ.get(k, v) for k, v in WORKER_ENV.items()})
    if ray.is_initialized():
        return ray.cluster_resources()
    address = address or os.environ.get("RAY_ADDRESS") or None
    _with_project_on_path()
    runtime_env: dict = {"env_vars": {k: os.environ[k] for k in WORKER_ENV}}
    remote = address is not None and address.startswith("ray://")
    if ship_code if ship_code is not None else remote:
        runtime_env.update(working_dir=str(PROJECT_ROOT), excludes=CODE_EXCLUDES)
    try:
        if address is None:
            _absolute_tmpdir()
            ctx = ray.init(
                dashboard_host="127.0.0.1",
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level="ERROR",
            )
            url = getattr(ctx, "dashboard_url", None)
            if url:
                token = Path.home() / TOKEN_FILE
                # Token auth is on for a local Ray too: the page asks for this token.
                hint = f" (sign in with the token: cat {token})" if token.exists() else ""
                print(f"Ray dashboard: http://{url}{hint}", flush=True)
            protect_token()
            if sweep_dir is not None:
                record_local_session(sweep_dir)
        else:
            _check_reachable(address)
            if _needs_token_mode(address):
                os.environ["RAY_AUTH_MODE"] = "token"
            ray.init(address=address, runtime_env=runtime_env, logging_level="ERROR")
            protect_token()
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as err:
        first = (str(err).strip().splitlines() or [err.__class__.__name__])[0]
        hint = "is the cluster up (`ray status`)? with token auth, copy its ~/.ray/auth_token here"
        raise SpecError(
            f"--address {address}: cannot connect to Ray ({first[:200]}); {hint}"
        ) from None
    return ray.cluster_resources()


def _absolute_tmpdir() -> None:
    """A relative RAY_TMPDIR made absolute: Ray's processes start in other folders, so a
    relative one made the start wait 30 s and fail with a traceback."""
    tmp = os.environ.get("RAY_TMPDIR")
    if tmp and not os.path.isabs(tmp):
        os.environ["RAY_TMPDIR"] = os.path.abspath(tmp)


def protect_token(home: Path | None = None) -> bool:
    """Make Ray's auth token readable by its owner only (Ray writes it 0644); returns whether
    its mode was changed."""
    path = (home or Path.home()) / TOKEN_FILE
    try:
        info = path.stat()
    except OSError:
        return False
    if info.st_uid != os.getuid() or not info.st_mode & 0o077:
        return False
    path.chmod(0o600)
    return True


def record_local_session(sweep_dir: Path) -> None:
    """Record the processes of the local Ray this driver started (sweeps.tune.leftovers), so
    the next driver can end what they leave behind if this one is killed."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    if node is None or not getattr(node, "head", False):
        return  # ray.init joined a Ray already running here (`ray start`): not ours to end
    record_launch(Path(sweep_dir), node.get_session_dir_path() or "")


def end_leftover_ray(sweep_dir: Path, grace_s: float = 3.0) -> int:
    """End what killed earlier drivers' local Ray left running (their dashboard and
    runtime-env agents outlive them): only processes recorded by PID and start time when a
    driver that is gone started them. Returns how many were ended."""
    return end_leftovers(Path(sweep_dir), grace_s)
