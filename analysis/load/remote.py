"""A sweep folder in object storage (s3://bucket/prefix/name, gs://...) read like a local one:
its tables are copied to a temporary folder, loaded, and the copy removed.

Only the files at the folder's top (trials.csv, curves.csv, points.csv, spec.yaml) are fetched:
the fit needs nothing from the trial folders, whose checkpoints are most of a sweep's bytes.

    data = load_remote("s3://bucket/results/scaling")     # ScalingData, source = the URI
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from analysis.load.sweep_tables import ScalingData, load_scaling_data
from contract.results import TRIALS_FILE
from contract.storage import RemoteFolder


def load_remote(
    uri: str, columns: dict[str, str] | None = None, where: str | None = None
) -> ScalingData:
    """Load the sweep folder at `uri`; a missing one is FileNotFoundError and an unusable
    storage a StorageError, each one line naming the URI."""
    remote = RemoteFolder.open(uri)
    if not remote.exists(TRIALS_FILE):
        raise FileNotFoundError(f"{uri}: not a sweep folder (no {TRIALS_FILE} in the bucket)")
    with tempfile.TemporaryDirectory(prefix="scalesweep-fit-") as tmp:
        folder = Path(tmp) / Path(remote.path).name
        remote.download(folder, top_only=True)
        data = load_scaling_data(folder, columns=columns, where=where)
    return dataclasses.replace(data, source=uri)
