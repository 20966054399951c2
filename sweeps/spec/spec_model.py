"""`SweepSpec`, the validated sweep, and the one choice of a trial's config class.

A spec is the base trial config, its axes and the sweep-level sections; `sweeps.spec.sweep_spec`
builds it from a YAML file and checks it (`sweeps.spec.checks`).

    spec.trial_config({"model.size": "gpt-20k"})   # a validated TrialConfig
    spec.fingerprint()                             # "3f9a0c21d4e5b6a7"
    trial_config_class({"task": {"type": "rl"}})   # RLTrialConfig
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.fit_settings import SweepFitSettings
from rl.config import RL_TASK, RLTrialConfig
from sweeps.errors import SpecError, format_validation_error
from sweeps.plan.resources import ResourcesConfig
from sweeps.spec.compute_spec import ComputeConfig
from sweeps.spec.sections import RunOptions, SearchConfig
from sweeps.spec.space import Axis, set_dotted
from sweeps.spec.strict_yaml import check_values
from sweeps.spec.tracker_spec import LoggingConfig
from trainers.config import AnyTrialConfig, TrialConfig
from trainers.tasks import TASKS

SWEEP_KEYS = (
    "name",
    "description",
    "search",
    "resources",
    "run",
    "compute",
    "logging",
    "analysis",
)
TRIAL_KEYS = ("model", "data", "optim", "trainer", "task", "seed")
SWEEP_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
"""A sweep's name: it names a folder and a Ray experiment, so no slashes, no leading dot."""
TASK_TYPES = (*sorted(TASKS), RL_TASK)
"""Every `task.type` a sweep accepts: the trainers' tasks and RL."""


def trial_config_class(tree: dict[str, Any]) -> type[TrialConfig] | type[RLTrialConfig]:
    """The one decision of which kind of trial a config tree describes, by its `task.type`:
    `rl` is an RL trial (`RLTrialConfig`), any other task a trainers' `TrialConfig`. The spec
    and a trial's own process both choose with it."""
    task = tree.get("task")
    is_rl = isinstance(task, dict) and task.get("type") == RL_TASK
    return RLTrialConfig if is_rl else TrialConfig


def is_rl_trial(config: AnyTrialConfig) -> bool:
    """Whether a validated trial config is an RL trial (its class, see `trial_config_class`)."""
    return isinstance(config, RLTrialConfig)


class SweepSpec(BaseModel):
    """A validated sweep: the base trial config, its axes and the sweep-level settings."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(pattern=f"^{SWEEP_NAME_PATTERN}$")
    """Sweep name: the folder under the storage root."""
    description: str = ""
    """Free text, kept with the results."""
    search: SearchConfig = SearchConfig()
    resources: ResourcesConfig = ResourcesConfig()
    run: RunOptions = RunOptions()
    compute: ComputeConfig | None = None
    """FLOP budgets x sizes (sweeps.spec.compute_spec, planned by sweeps.plan.compute); each trial's tokens spend its budget."""
    logging: LoggingConfig = LoggingConfig()
    """Experiment trackers (TensorBoard, W&B, MLflow) that see every trial."""
    analysis: SweepFitSettings = SweepFitSettings()
    """How the sweep's results are fitted (contract.fit_settings); no trial depends on it."""
    base: Any
    """The trial config with every axis at its first value (an `AnyTrialConfig`: TrialConfig
    or RLTrialConfig)."""
    axes: dict[str, Axis] = {}
    """Swept fields by dotted path, replicate seeds included."""
    source: str = "<spec>"
    """The file the spec came from, for error messages."""

    @property
    def is_rl(self) -> bool:
        return is_rl_trial(self.base)

    def trial_config(self, assignment: dict[str, Any]) -> AnyTrialConfig:
        """The validated trial config with the axes set to `assignment`."""
        # Only what the YAML set: re-validating defaults as if written would trip validators
        # that reject options the user never chose (e.g. a BPE vocab for a byte tokenizer).
        tree = self.base.model_dump(mode="json", exclude_unset=True)
        for path, value in assignment.items():
            set_dotted(tree, path, value)
        try:
            config = type(self.base).model_validate(tree)
        except ValidationError as err:
            point = ", ".join(f"{k}={v}" for k, v in assignment.items())
            detail = format_validation_error(err, tree, type(self.base))
            raise SpecError(f"{self.source}: trial ({point}): {detail}") from None
        swept: dict[str, Any] = {}
        for path, value in assignment.items():
            set_dotted(swept, path, value)
        check_values(swept, config, self.source)
        return config

    def to_dict(self, defaults: bool = False) -> dict[str, Any]:
        """The spec as YAML-ready data (loadable again), axes written back in YAML syntax;
        `defaults` also writes every field left at its default."""
        tree = self.base.model_dump(mode="json", exclude_unset=not defaults)
        for path, axis in self.axes.items():
            if path != "seed" or axis.values != tuple(self.search.seeds):
                set_dotted(tree, path, {axis.kind: list(axis.values)})
        head = self.model_dump(mode="json", include=set(SWEEP_KEYS))
        if head.get("compute") is None:
            head.pop("compute", None)
        head["analysis"] = self.analysis.model_dump(mode="json", exclude_defaults=True)
        if not head["analysis"]:
            head.pop("analysis")
        return {**head, **tree}

    def fingerprint(self) -> str:
        """Hash of everything except the axis values: re-running a sweep may grow its grid,
        but changing anything else under the same name is a different sweep."""
        tree = self.to_dict(defaults=True)
        for path in self.axes:
            set_dotted(tree, path, "<axis>")
        # Where results go and how they are fitted, not what runs.
        for key in ("name", "description", "run", "logging", "analysis"):
            tree.pop(key, None)
        tree["resources"].pop("tail_threads", None)  # how fast the last trials run, not what
        if "compute" in tree:  # budgets and sizes grow a compute grid like axis values
            tree["compute"] = {**tree["compute"], "budgets": "<axis>", "sizes": "<axis>"}
            tree["compute"].pop("sizes_by_budget", None)  # sizes too (recentre writes them)
            if not tree["compute"].get("recentre"):  # folders from before the option resume
                tree["compute"].pop("recentre", None)
        tree["search"] = {
            k: v
            for k, v in tree["search"].items()
            if k not in ("seeds", "num_samples") and v not in (None, [])  # unset new options
        }
        blob = json.dumps(tree, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
