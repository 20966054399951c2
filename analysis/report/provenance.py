"""Where a fit came from: sweep name and description, spec hash, product commit, versions, date.

A published number needs its provenance next to it; ``report.md`` and the JSON carry this.

    prov = provenance(data)           # {"sweep": ..., "spec_sha256": ..., "commit": ..., ...}
    prov["versions"]["scipy"]
    units(data.metric)                # "nats per token" for a loss, the metric name otherwise
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from analysis.load.sweep_tables import ScalingData

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("numpy", "scipy", "pandas", "matplotlib")
AXIS_UNITS = {
    "N": "non-embedding parameters",
    "D": "training tokens",
    "C": "training FLOPs",
}


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def units(metric: str) -> str:
    """Unit of the fitted metric: cross-entropy losses are nats per token (or per byte)."""
    low = metric.lower()
    if "bpb" in low or "per_byte" in low:
        return "nats per byte"
    if "loss" in low:
        return "nats per token"
    return metric


def provenance(data: ScalingData) -> dict:
    """Plain-JSON provenance of an analysis of ``data``."""
    spec = data.spec or {}
    digest = (
        hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
        if spec
        else None
    )
    return {
        "source": data.source,
        "sweep": spec.get("name"),
        "description": spec.get("description"),
        "spec_sha256": digest,
        "commit": _commit(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": {"python": platform.python_version()} | {p: _version(p) for p in PACKAGES},
        "units": {**AXIS_UNITS, "loss": units(data.metric)},
        "compute": data.c_source,
    }
