"""A sweep whose `--storage` is object storage (s3://bucket/prefix, gs://...): it runs in a
local staging folder that is copied to the bucket as it changes.

Why staging: the sweep folder has parts that object storage cannot hold as they are, the lock
(`flock` on a file), the tables rewritten as every trial reports, Optuna's journal appended to
in place, so the driver writes them on a local disk and a background thread copies what
changed to `<storage>/<name>/` every few seconds, and once more when the sweep ends (finished,
failed or interrupted). Before the sweep starts, whatever the bucket already holds for this
sweep is copied down, so a re-run or `--resume` on any machine continues from the bucket.
The staging folder is `$SCALESWEEP_STAGING` (default `~/.cache/scalesweep/staging`) followed
by the bucket and prefix.

    with staged("s3://bucket/results", "scaling") as local_root:
        run_in(local_root)        # writes local_root/scaling; the bucket follows
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contract.storage import RemoteFolder, Seen, StorageError, is_remote
from sweeps.folder.sweep_dir import LOCK_FILE
from sweeps.tune.ray_cluster import SESSION_FILE

STAGING_ENV = "SCALESWEEP_STAGING"
"""Root of the local staging folders of sweeps stored in object storage."""
SYNC_INTERVAL_S = 10.0
"""How often changed files are copied up while the sweep runs: each copy lists the staging
folder and re-uploads only what changed, so this bounds what a lost driver machine loses."""
LOCAL_ONLY = (LOCK_FILE, SESSION_FILE)
"""Files that mean something only on the driver's disk: the lock (held by its `flock`) and the
Ray session the driver started (which `end_leftover_ray` ends after a crash)."""


def staging_root(uri: str) -> Path:
    """The local folder that stands for `uri` (scheme, bucket and prefix kept apart)."""
    base = Path(os.environ.get(STAGING_ENV) or Path.home() / ".cache/scalesweep/staging")
    scheme, rest = uri.split("://", 1)
    return base.expanduser() / scheme / rest.split("?", 1)[0].strip("/")


@contextmanager
def staged(storage: str, name: str) -> Iterator[str]:
    """Yield the results root to run in: `storage` itself for a path, else a staging folder
    filled from the bucket and copied back to it while and after the body runs."""
    if not is_remote(storage):
        yield storage
        return
    remote = RemoteFolder.open(storage).child(name)  # unreachable: fails before any write
    root = staging_root(storage)
    local = root / name
    created = not local.exists()
    try:
        pulled = remote.download(local, skip=LOCAL_ONLY)
    except StorageError:
        if created:  # nothing half-written: a folder this run made goes again
            shutil.rmtree(local, ignore_errors=True)
        raise
    if pulled:
        print(f"[{name}] {pulled} files from {remote.uri} -> {local}", flush=True)
    sync = BucketSync(local, remote)
    sync.start()
    try:
        yield str(root)
    finally:
        sync.stop()
    print(f"[{name}] copied to {remote.uri} ({sync.copied} file copies)", flush=True)


class BucketSync:
    """Copy a local folder's changed files to a remote folder every `SYNC_INTERVAL_S` in a
    daemon thread, and a last time on `stop()` (which raises if that last copy fails)."""

    def __init__(self, local: Path, remote: RemoteFolder) -> None:
        self.local, self.remote = local, remote
        self.seen: Seen = {}
        self.copied = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="bucket-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sync(self) -> None:
        """One pass: copy what changed since the last pass."""
        if not self.local.is_dir():
            return
        with self._lock:
            self.copied += self.remote.upload(self.local, self.seen, skip=LOCAL_ONLY)

    def _loop(self) -> None:
        while not self._stop.wait(SYNC_INTERVAL_S):
            try:
                self.sync()
            except StorageError as err:  # a passing outage: the next pass copies it again
                print(f"scalesweep: warning: {err}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sync()
