"""The `logging:` section of a sweep YAML: which experiment trackers see every trial.

Each tracker is one of Ray Tune's own logger callbacks, so a trial's curves and swept values
land where TensorBoard, W&B and MLflow users already look. W&B and MLflow are optional extras;
asking for one that is not installed fails at spec load with one line saying what to install.

    logging: {tensorboard: true, wandb: {project: scaling, mode: offline},
              mlflow: {tracking_uri: "file:./mlruns"}}
    LoggingConfig.model_validate({"tensorboard": True}).enabled   # ["tensorboard"]
"""

from __future__ import annotations

import importlib.util
import posixpath
import urllib.parse
from typing import Literal

from pydantic import BaseModel, field_validator

from contract.config import FROZEN
from sweeps.errors import SpecError


class WandbConfig(BaseModel):
    """Weights & Biases, one W&B run per trial, grouped by sweep."""

    model_config = FROZEN

    project: str
    """W&B project the runs belong to."""
    mode: Literal["offline", "online", "disabled"] = "offline"
    """offline writes run folders that `wandb sync` uploads later; online needs an API key."""
    entity: str | None = None
    """W&B team or user; null = the account's default."""


class MlflowConfig(BaseModel):
    """MLflow tracking, one MLflow run per trial in an experiment named after the sweep."""

    model_config = FROZEN

    tracking_uri: str = "file:./mlruns"
    """Where runs go. A relative `file:` path is taken inside the sweep folder, so the store
    travels with the results; an http(s) URI names a tracking server."""
    experiment_name: str | None = None
    """MLflow experiment; null = the sweep's name."""

    @field_validator("tracking_uri")
    @classmethod
    def _relative_store_stays_inside(cls, uri: str) -> str:
        path = local_store_path(uri)
        if path is not None and not path.startswith("/"):
            normal = posixpath.normpath(path)
            if normal == ".." or normal.startswith("../"):
                raise ValueError(
                    f"{uri!r} leaves the sweep folder; a relative store stays inside it "
                    "(give an absolute file:/path for a store elsewhere)"
                )
        return uri


def local_store_path(uri: str) -> str | None:
    """The local path of a `file:` URI or a bare path (relative ones are taken inside the
    sweep folder); None for a tracking server (http, https, databricks, ...)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path) if not parsed.netloc else None
    return uri if not parsed.scheme and "://" not in uri else None


class LoggingConfig(BaseModel):
    """Trackers switched on for every trial (all off by default: the result tables always
    hold every report)."""

    model_config = FROZEN

    tensorboard: bool = False
    """TensorBoard event files in each trial's Tune folder (`tensorboard --logdir <sweep>/tune`)."""
    wandb: WandbConfig | None = None
    """W&B runs (install with `pip install "scalesweep[wandb]"`)."""
    mlflow: MlflowConfig | None = None
    """MLflow runs (install with `pip install "scalesweep[mlflow]"`)."""

    @property
    def enabled(self) -> list[str]:
        """Names of the trackers switched on."""
        names = ["tensorboard"] if self.tensorboard else []
        return names + [n for n in ("wandb", "mlflow") if getattr(self, n) is not None]


MODULES = {"tensorboard": "tensorboardX", "wandb": "wandb", "mlflow": "mlflow"}
"""The package each tracker imports."""
EXTRAS = {
    "tensorboard": "tensorboardX",
    "wandb": "scalesweep[wandb]",
    "mlflow": "scalesweep[mlflow]",
}
"""What to install to get it."""


def check_installed(config: LoggingConfig, source: str) -> None:
    """Refuse a tracker whose package is missing now, not after Ray has started."""
    for name in config.enabled:
        if importlib.util.find_spec(MODULES[name]) is None:
            raise SpecError(
                f"{source}: logging.{name}: {MODULES[name]} is not installed; "
                f'pip install "{EXTRAS[name]}"'
            )
