"""A real S3-compatible server for the object-storage tests: moto's server mode, started as
its own process on 127.0.0.1 (moto pins python-dateutil<3, below the project's, so it lives
in its own virtual environment: `make moto` makes `.venv-moto`, `.ci/run` makes its own).

    server = S3Server.start(tmp_path)        # None (with the reason) when moto is missing
    env = server.env()                        # AWS_* variables that point pyarrow at it
    server.make_bucket("sweeps"); server.stop()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MOTO_ENV = "SCALESWEEP_MOTO_SERVER"
"""Path of the `moto_server` executable to use (set by `make test`)."""


def moto_server_path() -> str | None:
    """$SCALESWEEP_MOTO_SERVER, else the repository's .venv-moto, else `moto_server` on PATH."""
    for candidate in (os.environ.get(MOTO_ENV), str(REPO / ".venv-moto/bin/moto_server")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("moto_server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    proc: subprocess.Popen
    port: int

    @classmethod
    def start(cls, log_dir: Path, require_auth: bool = False) -> S3Server:
        """Start moto on a free loopback port and wait until it answers. `require_auth` turns
        on its credential checks (every key unknown to its IAM is refused)."""
        exe = moto_server_path()
        assert exe, "no moto_server"
        port = free_port()
        env = {**os.environ, **({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if require_auth else {})}
        log = (log_dir / f"moto-{port}.log").open("wb")
        proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log, env=env
        )
        server = cls(proc, port)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{server.url}/moto-api/", timeout=1).close()
                return server
            except OSError:
                assert proc.poll() is None, f"moto_server exited; see {log.name}"
                time.sleep(0.2)
        server.stop()
        raise AssertionError("moto_server did not answer within 30 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a user sets for an S3-compatible endpoint; pyarrow (and so Ray) reads it."""
        return {
            "AWS_ACCESS_KEY_ID": "scalesweep-test",
            "AWS_SECRET_ACCESS_KEY": "scalesweep-test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
        }

    def make_bucket(self, name: str) -> None:
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(
            access_key="scalesweep-test",
            secret_key="scalesweep-test",
            region="us-east-1",
            endpoint_override=f"127.0.0.1:{self.port}",
            scheme="http",
            allow_bucket_creation=True,
        )
        fs.create_dir(name)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
