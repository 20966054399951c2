"""A sweep file with `stages:` as typed data: its stages, where each starts from, its identity.

Top-level trial sections (model, data, optim, trainer, task, search, resources) are defaults
that every stage may override; each stage becomes a `SweepSpec`, its `from:` a `StageSource`.
What a linked stage runs is decided once its upstream has run (sweeps.stages.pipeline).

    pipeline = load_pipeline("sweeps/pipeline.yaml")
    pipeline.stages[1].source.origin       # "stage pretrain"
    pipeline.fingerprint()                 # the folder's identity check (sweeps.folder)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from contract.errors import validation_line
from contract.results import SPEC_FILE, TRIALS_FILE
from sweeps.errors import SpecError
from sweeps.spec.space import is_axis_node
from sweeps.spec.sweep_spec import (
    SWEEP_KEYS,
    TRIAL_KEYS,
    RunOptions,
    SearchConfig,
    SweepSpec,
    read_with_overrides,
    read_yaml,
    refuse_rl_section,
    spec_from_dict,
)

STAGE_KEYS = ("name", "from")
UPSTREAM_PREFIX = "upstream."
"""The resolved spec a sweep folder keeps (written by sweeps.folder.sweep_dir)."""


class StageSource(BaseModel):
    """Where a stage starts from: an earlier stage or a finished sweep folder, and which of its
    trials."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    stage: str | None = None
    """Name of an earlier stage of this sweep (set this or `sweep`)."""
    sweep: str | None = None
    """Path of a finished sweep folder (<storage>/<name>, made absolute) whose trials this stage
    starts from; their metric and mode come from its spec.yaml (set this or `stage`)."""
    select: Literal["all", "best", "best_per"] = "all"
    """all: one downstream trial per finished upstream trial; best: the best one overall;
    best_per: the best per value of the `best_per` keys."""
    best_per: list[str] = []
    """Dotted keys (e.g. model.size) for select: best_per (setting it implies best_per)."""
    checkpoint: Literal["final", "best"] = "final"
    """Which upstream checkpoint to start from."""
    forecast: str | None = None
    """Name of an earlier stage to fit and forecast from: this stage then runs the predicted-
    optimal model at `target` (sweeps.stages.forecast_stage) and scores it into the ledger when done
    (set this, `stage` or `sweep`)."""
    target: str = "10x"
    """With `forecast`: the compute target, C=<FLOPs> or <k>x the upstream's largest budget."""
    neighbours: bool = False
    """With `forecast`: also run N*/2 and 2 N* on the same budget, to test the optimum."""
    bootstrap: int = 200
    """With `forecast`: bootstrap resamples of the fit."""
    inherit: bool = False
    """Also take each upstream trial's own swept values (data.fraction, optim.lr, seed, ...) for
    every key this stage's sections leave unset, so each trial continues its upstream's run."""

    @model_validator(mode="after")
    def _one_origin(self) -> StageSource:
        if sum(x is not None for x in (self.stage, self.sweep, self.forecast)) != 1:
            raise ValueError(
                "from: set exactly one of stage (an earlier stage), sweep (a sweep folder) "
                "or forecast (an earlier stage to forecast from)"
            )
        if self.sweep is not None:
            object.__setattr__(self, "sweep", os.path.abspath(os.path.expanduser(self.sweep)))
        return self

    @model_validator(mode="after")
    def _keys_for_best_per(self) -> StageSource:
        if self.best_per and self.select == "all":
            object.__setattr__(self, "select", "best_per")
        if self.select == "best_per" and not self.best_per:
            raise ValueError("from.best_per: list the keys, e.g. [model.size]")
        return self

    @property
    def origin(self) -> str:
        """The upstream in words, for messages."""
        if self.forecast is not None:
            return f"forecast from stage {self.forecast}"
        return f"stage {self.stage}" if self.stage is not None else f"sweep {self.sweep}"


@dataclass(frozen=True)
class SweepOrigin:
    """What a linked stage needs to know of a finished sweep folder it starts from."""

    folder: Path
    stage: str
    """The stage whose trials are taken: the folder's last stage ("main" for a plain sweep)."""
    search: SearchConfig
    """That stage's search section: the metric and mode that select: best ranks by."""
    task: str
    """That stage's task type (rl for RL sweeps, which keep no model checkpoints)."""
    raw: dict[str, Any]
    """That stage's sections as its spec.yaml has them (a pipeline's defaults merged in)."""


def read_sweep_origin(folder: str | Path, where: str = "from.sweep") -> SweepOrigin:
    """Read a finished sweep folder's spec.yaml; raises a SpecError naming `where`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpecError(f"{where}: {folder} is not a folder")
    for name in (TRIALS_FILE, SPEC_FILE):
        if not (folder / name).is_file():
            raise SpecError(f"{where}: {folder} has no {name}; is it a sweep folder?")
    try:
        raw = read_yaml(folder / SPEC_FILE)
        stage, section = "main", raw
        if is_pipeline(raw):
            last = raw["stages"][-1]
            defaults = {k: v for k, v in raw.items() if k not in ("stages", "name")}
            body = {k: v for k, v in last.items() if k not in STAGE_KEYS}
            stage, section = last["name"], _merge(defaults, body)
        spec = spec_from_dict(section, source=str(folder / SPEC_FILE), name=folder.name)
    except SpecError as err:
        raise SpecError(f"{where}: {err}") from None
    return SweepOrigin(folder, stage, spec.search, spec.base.task.type, section)


def _source_key(source: StageSource | None) -> str | None:
    """A stage's source as its fingerprint reads it: pydantic's JSON of the fields set away
    from their defaults, so a field added later with a default leaves the fingerprints of
    folders written before it unchanged (and a restated default changes nothing)."""
    return None if source is None else source.model_dump_json(exclude_defaults=True)


@dataclass(frozen=True)
class Stage:
    """One stage of a sweep: its name, its spec (the shared defaults merged in) and where it
    starts from (None: from scratch)."""

    name: str
    spec: SweepSpec
    source: StageSource | None


@dataclass(frozen=True)
class PipelineSpec:
    """The stages of a sweep and what identifies it (for its folder's identity check)."""

    name: str
    stages: list[Stage]
    raw: dict[str, Any]

    @property
    def run(self) -> RunOptions:
        """The run section (storage, retries) of the first stage: where the sweep runs."""
        return self.stages[0].spec.run

    def fingerprint(self) -> str:
        """Hash of each stage's name, spec fingerprint and source: what the sweep folder
        stores and compares before it resumes (sweeps.folder.sweep_dir)."""
        blob = json.dumps(
            [[s.name, s.spec.fingerprint(), _source_key(s.source)] for s in self.stages]
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return self.raw


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        mergeable = isinstance(value, dict) and isinstance(out.get(key), dict)
        if mergeable and not is_axis_node(value) and not is_axis_node(out[key]):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def is_pipeline(raw: dict[str, Any]) -> bool:
    return "stages" in raw


def pipeline_from_dict(raw: dict[str, Any], source: str, name: str | None = None) -> PipelineSpec:
    """Validate every stage (with the shared defaults merged in) and the links between them."""
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        raise SpecError(f"{source}: stages: expected a non-empty list of stages")
    name = name or raw.get("name") or Path(source).stem
    defaults = {k: v for k, v in raw.items() if k not in ("stages", "name")}
    stages: list[Stage] = []
    for i, stage_raw in enumerate(stages_raw):
        where = f"{source}: stages[{i}]"
        if not isinstance(stage_raw, dict) or not isinstance(stage_raw.get("name"), str):
            raise SpecError(f"{where}: each stage is a mapping with a name")
        stage_name = stage_raw["name"]
        if stage_name in {s.name for s in stages}:
            raise SpecError(f"{where}.name: stage {stage_name!r} is listed twice")
        src = None
        if "from" in stage_raw:
            try:
                src = StageSource.model_validate(stage_raw["from"])
            except ValidationError as err:
                detail = validation_line(err, stage_raw["from"], StageSource)
                raise SpecError(f"{where}.from: {detail}") from None
            if src.stage is not None and src.stage not in {s.name for s in stages}:
                raise SpecError(f"{where}.from.stage: {src.stage!r} is not an earlier stage")
            if src.forecast is not None and src.forecast not in {s.name for s in stages}:
                raise SpecError(f"{where}.from.forecast: {src.forecast!r} is not an earlier stage")
        if "analysis" in stage_raw:
            raise SpecError(
                f"{where}.analysis: set it at the top of the file; every fit of the sweep's "
                "folder reads that one section"
            )
        body = {k: v for k, v in stage_raw.items() if k not in STAGE_KEYS}
        spec = spec_from_dict(_merge(defaults, body), source=f"{where} ({stage_name})", name=name)
        if src is not None and src.forecast is None:  # a forecast run starts from scratch
            _check_link(spec, src, stages, where)
        stages.append(Stage(stage_name, spec, src))
    return PipelineSpec(name=name, stages=stages, raw=raw)


def _check_link(spec: SweepSpec, src: StageSource, stages: list[Stage], where: str) -> None:
    """The stage's task must be able to start from the upstream task's checkpoints."""
    allowed = type(spec.base.task).init_from_tasks
    kind = spec.base.task.type
    if not allowed:
        raise SpecError(
            f"{where}.task.type: {kind} cannot start from a checkpoint; "
            "a stage with `from:` needs a task with init_from (lm, mlm, classify)"
        )
    if src.sweep is not None:
        upstream = read_sweep_origin(src.sweep, f"{where}.from.sweep").task
    else:
        upstream_spec = next(s for s in stages if s.name == src.stage).spec
        upstream = upstream_spec.base.task.type
    if upstream not in allowed:
        raise SpecError(
            f"{where}.task.type: {kind} cannot start from a checkpoint of a {upstream} "
            f"task ({src.origin}); it starts from {', '.join(allowed)} checkpoints"
        )


def pipeline_from_raw(raw: dict[str, Any], source: str, name: str | None = None) -> PipelineSpec:
    """A sweep mapping with `stages:` (overrides already applied) -> PipelineSpec."""
    refuse_rl_section(raw, source)
    allowed = (*SWEEP_KEYS, *TRIAL_KEYS, "stages")
    unknown = [k for k in raw if k not in allowed]
    if unknown:
        raise SpecError(f"{source}: {unknown[0]}: unknown key; valid: {', '.join(allowed)}")
    return pipeline_from_dict(raw, source=source, name=name)


def load_pipeline(
    path: str | Path, overrides: list[str] = (), name: str | None = None
) -> PipelineSpec:
    """Load a sweep file with `stages:`; overrides apply to the shared defaults."""
    return pipeline_from_raw(read_with_overrides(path, overrides), source=str(path), name=name)
