"""Sweep YAML -> typed, frozen, validated `SweepSpec`.

The file holds sweep-level sections (``name``, ``search``, ``resources``, ``run``) and the
trial config (``model``, ``data``, ``optim``, ``trainer``, ``task``, ``seed``; an RL sweep is
``task: {type: rl, ...}`` with ``model`` and ``seed``), in which any field may be an axis (see
`sweeps.spec.space`). Every mistake becomes one `SpecError` line naming the file and the dotted key.

    spec = load_spec("sweeps/smoke.yaml", overrides=["optim.lr=1e-3"])
    spec.axes["model.size"].values     # ("gpt-20k", "gpt-100k")
    spec.trial_config({"model.size": "gpt-20k"})   # a validated TrialConfig
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from contract.config import FROZEN
from contract.metrics import EVAL_LOSS
from rl.config import RL_TASK, RLTrialConfig
from sweeps.errors import SpecError, format_validation_error
from sweeps.plan.resources import ResourcesConfig
from sweeps.spec.compute_spec import ComputeConfig
from sweeps.spec.compute_spec import check as check_compute
from sweeps.spec.space import Axis, SpaceError, extract_axes, set_dotted
from sweeps.spec.strict_yaml import check_axis_kinds, check_values, load_yaml
from sweeps.spec.tracker_spec import LoggingConfig, check_installed
from trainers.config import AnyTrialConfig, TrialConfig
from trainers.tasks import TASKS

SWEEP_KEYS = ("name", "description", "search", "resources", "run", "compute", "logging")
TRIAL_KEYS = ("model", "data", "optim", "trainer", "task", "seed")
SWEEP_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
"""A sweep's name: it names a folder and a Ray experiment, so no slashes, no leading dot."""
TASK_TYPES = (*sorted(TASKS), RL_TASK)
"""Every `task.type` a sweep accepts: the trainers' tasks and RL."""


class SchedulerConfig(BaseModel):
    """Early stopping across trials; ASHA compares trials at equal data seen (`tokens`)."""

    model_config = FROZEN

    type: Literal["fifo", "asha"] = "fifo"
    """fifo runs every trial to its budget; asha stops the worst at each rung."""
    grace_tokens: int | None = Field(None, gt=0)
    """Tokens every trial trains before it may be stopped; null = 1/16 of the largest budget."""
    reduction_factor: float = Field(3.0, gt=1)
    """ASHA keeps the best 1/reduction_factor of trials at each rung."""
    stratify_by: list[str] = []
    """Dotted keys (e.g. model.size) whose values get separate ASHA brackets, so small models
    are never stopped for losing to large ones."""


class SearchConfig(BaseModel):
    """What to optimise and how to pick the trials."""

    model_config = FROZEN

    metric: str = EVAL_LOSS
    """Metric the search and scheduler optimise (a standard metric name)."""
    mode: Literal["min", "max"] = "min"
    """Whether lower (min) or higher (max) metric values are better."""
    algorithm: Literal["grid", "random", "optuna"] = "grid"
    """grid: every grid/choice value; random: grid axes crossed with num_samples random draws of
    the others; optuna: Optuna's sampler (TPE unless `sampler` says) over all axes for
    num_samples trials."""
    sampler: Literal["tpe", "cmaes", "gp", "qmc", "random", "nsga2"] | None = None
    """Optuna sampler (algorithm optuna only); null = tpe. The study is kept in the sweep
    folder as optuna.journal, which `optuna-dashboard` opens."""
    more_metrics: list[str] = []
    """Further objectives optimised jointly with `metric` (Optuna multi-objective search); in
    YAML, write `metric: [eval/loss, flops]` and `mode: [min, min]`."""
    more_modes: list[Literal["min", "max"]] = []
    """Mode of each of `more_metrics`."""
    num_samples: int = Field(1, gt=0)
    """Random draws per grid point (random) or trials in total (optuna)."""
    seeds: list[int] = Field([0], min_length=1)
    """Replicate seeds: every trial point runs once per seed."""
    seed: int = 0
    """Seed of the planner's random draws, so a random sweep plans the same trials twice."""
    scheduler: SchedulerConfig = SchedulerConfig()
    """Trial scheduler; a plain string (fifo, asha) is accepted as shorthand."""

    @field_validator("scheduler", mode="before")
    @classmethod
    def _scheduler_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _objective_lists(cls, data: Any) -> Any:
        """`metric: [a, b]`, `mode: [min, max]`: the first is the primary metric (tables,
        scheduler), the rest are the further objectives of a multi-objective search."""
        if not isinstance(data, dict) or not isinstance(data.get("metric"), list):
            return data
        metrics, mode = list(data["metric"]), data.get("mode", "min")
        modes = list(mode) if isinstance(mode, list) else [mode] * len(metrics)
        if not metrics or len(modes) != len(metrics):
            raise ValueError("metric and mode lists must have the same, non-zero length")
        return {
            **data,
            "metric": metrics[0],
            "mode": modes[0],
            "more_metrics": metrics[1:],
            "more_modes": modes[1:],
        }

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(metric, mode) of every objective, the primary first."""
        return [(self.metric, self.mode), *zip(self.more_metrics, self.more_modes, strict=True)]


class RunOptions(BaseModel):
    """How the runner treats trials and storage."""

    model_config = FROZEN

    storage: str = "results"
    """Results root; the sweep writes to <storage>/<name>/ (--storage overrides)."""
    max_failures: int = Field(0, ge=0)
    """Retries of a trial whose process died; each resumes from its latest checkpoint."""
    retry_failed: bool = False
    """On resume, run again trials that ended in error (default: keep their failure)."""


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
        return {**head, **tree}

    def fingerprint(self) -> str:
        """Hash of everything except the axis values: re-running a sweep may grow its grid,
        but changing anything else under the same name is a different sweep."""
        tree = self.to_dict(defaults=True)
        for path in self.axes:
            set_dotted(tree, path, "<axis>")
        for key in ("name", "description", "run", "logging"):  # where results go, not what runs
            tree.pop(key, None)
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


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=1e-3"`` -> ``("optim.lr", 0.001)``; values are YAML, so lists and axes work."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {text!r}: expected dotted.key=value")
    try:
        return key.strip(), load_yaml(value) if value.strip() else None
    except SpecError as err:
        raise SpecError(f"--set {key}: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(
            f"--set {key}: value is not valid YAML ({err.__class__.__name__})"
        ) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Safe-load a YAML mapping, turning every file problem into a one-line SpecError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as err:
        raise SpecError(f"{path}: cannot read spec ({err.__class__.__name__})") from None
    try:
        raw = load_yaml(text)
    except SpecError as err:
        raise SpecError(f"{path}:{err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise SpecError(f"{path}:{where}: YAML syntax error: {problem}") from None
    if raw is None:
        raise SpecError(f"{path}: spec file is empty")
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: top level must be a mapping of keys, got {type(raw).__name__}")
    return raw


def spec_from_dict(
    raw: dict[str, Any], source: str = "<spec>", name: str | None = None
) -> SweepSpec:
    """Validate a raw mapping (a loaded YAML plus overrides) into a SweepSpec."""
    refuse_rl_section(raw, source)
    unknown = [k for k in raw if k not in SWEEP_KEYS + TRIAL_KEYS]
    if unknown:
        raise SpecError(
            f"{source}: {unknown[0]}: unknown key; valid: {', '.join(SWEEP_KEYS + TRIAL_KEYS)}"
        )
    trial_raw = {k: raw[k] for k in TRIAL_KEYS if k in raw}
    try:
        fixed, axes = extract_axes(trial_raw)
    except SpaceError as err:
        raise SpecError(f"{source}: {err}") from None
    config_cls = _checked_trial_class(fixed, axes, source)
    try:
        base = config_cls.model_validate(fixed)
    except ValidationError as err:
        check_axis_kinds(trial_raw, source)
        raise SpecError(f"{source}: {format_validation_error(err, fixed, config_cls)}") from None
    head = {k: raw[k] for k in SWEEP_KEYS if k in raw}
    head.setdefault("name", name or Path(source).stem)
    if name:
        head["name"] = name
    try:
        spec = SweepSpec.model_validate({**head, "base": base, "axes": {}, "source": source})
    except ValidationError as err:
        raise SpecError(f"{source}: {format_validation_error(err, head, SweepSpec)}") from None
    check_values(fixed, base, source)
    check_values(head, spec, source)
    if "seed" in axes:
        raise SpecError(f"{source}: seed: use search.seeds for replicates, not an axis on seed")
    if spec.search.seeds != [0] or "seed" not in fixed:
        axes["seed"] = Axis("seed", "grid", tuple(spec.search.seeds))
    spec = spec.model_copy(update={"axes": axes})
    _check_axes(spec)
    check_compute(spec)
    _check_rl_resources(spec)
    check_installed(spec.logging, source)
    _check_search(spec)
    return spec


def read_with_overrides(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    """A sweep YAML as a raw mapping with the ``--set key=value`` overrides applied."""
    raw = read_yaml(path)
    for text in overrides:
        key, value = parse_override(text)
        try:
            set_dotted(raw, key, value)
        except SpaceError as err:
            raise SpecError(f"--set {err}") from None
    return raw


def load_spec(path: str | Path, overrides: list[str] = (), name: str | None = None) -> SweepSpec:
    """Load a sweep YAML, apply ``--set`` overrides, validate. Raises SpecError."""
    return spec_from_dict(read_with_overrides(path, overrides), source=str(path), name=name)


def refuse_rl_section(raw: dict[str, Any], source: str) -> None:
    """The top-level `rl:` section became the task `rl`: say exactly what to write instead."""
    if "rl" not in raw:
        return
    parts = [raw.get("task"), raw["rl"]]  # a --set rl.X on a new file lands beside its task
    options = {k: v for part in parts if isinstance(part, dict) for k, v in part.items()}
    options.pop("type", None)
    now = yaml.safe_dump(
        {"task": {"type": RL_TASK, **options}}, default_flow_style=True, sort_keys=False, width=1e9
    ).strip()
    raise SpecError(f"{source}: rl: RL settings are now a task; replace rl: with {now}")


def _checked_trial_class(
    fixed: dict[str, Any], axes: dict[str, Axis], source: str
) -> type[TrialConfig] | type[RLTrialConfig]:
    """The trial config class of a sweep, naming every valid task type (RL included) and the
    sections an RL trial has; RL trials cannot share a sweep with others, since every trial of
    a sweep is validated as one kind."""
    task = fixed.get("task")
    kind = task.get("type") if isinstance(task, dict) else None
    if kind is not None and kind not in TASK_TYPES:
        raise SpecError(
            f"{source}: task.type: {kind!r} is not a known task; valid: {', '.join(TASK_TYPES)}"
        )
    axis = axes.get("task.type")
    if axis is not None and RL_TASK in axis.values and set(axis.values) != {RL_TASK}:
        raise SpecError(f"{source}: task.type: rl trials need a sweep of their own, not an axis")
    config_cls = trial_config_class(fixed)
    extra = [key for key in fixed if key not in config_cls.model_fields]
    if config_cls is RLTrialConfig and extra:
        raise SpecError(
            f"{source}: {extra[0]}: an rl task learns from its environment and takes no "
            f"{extra[0]} section; valid: {', '.join(RLTrialConfig.model_fields)}"
        )
    return config_cls


def _check_rl_resources(spec: SweepSpec) -> None:
    """An RL trial's resources come from RLlib's own request (env runners, learner GPUs), so a
    Train-worker GPU request would be silently ignored: refuse it and say what to set."""
    if not spec.is_rl:
        return
    res = spec.resources
    asked = [("resources.gpus_per_worker", res.gpus_per_worker)]
    asked += [
        (f"resources.by_size.{k}.gpus_per_worker", o.gpus_per_worker)
        for k, o in res.by_size.items()
    ]
    for key, gpus in asked:
        if gpus:
            raise SpecError(
                f"{spec.source}: {key}: RL trials take GPUs through task.num_learner_gpus; "
                "set that instead"
            )
    if res.workers > 1:
        raise SpecError(
            f"{spec.source}: resources.workers: RL trials scale with task.num_env_runners, "
            "not Train workers; leave workers at 1"
        )


def _check_search(spec: SweepSpec) -> None:
    """Options that only an Optuna search can honour, and samplers that cannot honour them."""
    search, source = spec.search, spec.source
    if len(search.more_modes) != len(search.more_metrics):
        raise SpecError(f"{source}: search.mode: give one mode per metric")
    optuna = search.algorithm == "optuna"
    if search.sampler is not None and not optuna:
        raise SpecError(f"{source}: search.sampler: needs search.algorithm: optuna")
    if search.more_metrics:
        if not optuna:
            raise SpecError(f"{source}: search.metric: several metrics need algorithm: optuna")
        if search.sampler == "cmaes":
            raise SpecError(
                f"{source}: search.sampler: cmaes optimises one metric; use nsga2, tpe, gp, "
                "qmc or random for several"
            )
        if search.scheduler.type != "fifo":
            raise SpecError(
                f"{source}: search.scheduler: asha ranks trials by one metric; use fifo with "
                "several metrics"
            )


def _check_axes(spec: SweepSpec) -> None:
    """Every axis path must name a field, and every listed value or bound must validate."""
    search = spec.search
    for path, axis in spec.axes.items():
        if axis.is_sampled and search.algorithm == "grid":
            raise SpecError(
                f"{spec.source}: {path}: a {axis.kind} axis needs search.algorithm random or "
                "optuna (grid only enumerates grid/choice values)"
            )
        for value in axis.values:
            spec.trial_config({path: value})
    for key in search.scheduler.stratify_by:
        if key not in spec.axes:
            raise SpecError(
                f"{spec.source}: search.scheduler.stratify_by: {key} is not a swept axis"
            )
