"""Multi-stage sweeps: `stages:` run in order in one sweep folder, later stages starting from
earlier stages' checkpoints (pretrain -> fine-tune).

Top-level trial sections (model, data, optim, trainer, task, search, resources) are defaults
that every stage may override. A stage with ``from: {stage: pretrain, select: all}`` (or
``select: best``, or ``best_per: [model.size]``) gets one trial per selected upstream trial and
per point of its own axes; each starts from the upstream trial's final checkpoint with the
upstream model, and carries the upstream's identity and swept values as ``upstream.*`` columns.

    pipeline = load_pipeline("sweeps/pipeline.yaml")
    plan = stage_plan(pipeline.stages[1], upstream_rows)     # after stage 0 has run
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sweeps.errors import SpecError, format_validation_error
from sweeps.plan import Plan, TrialPoint, make_plan, make_trial
from sweeps.space import SpaceError, is_axis_node, set_dotted
from sweeps.spec import SweepSpec, parse_override, read_yaml, spec_from_dict

PIPELINE_KEYS = ("name", "description", "run", "stages")
STAGE_KEYS = ("name", "from")
UPSTREAM_PREFIX = "upstream."
FINISHED = "TERMINATED"


class StageSource(BaseModel):
    """Where a stage starts from: the upstream stage and which of its trials."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    stage: str
    """Name of an earlier stage."""
    select: Literal["all", "best", "best_per"] = "all"
    """all: one downstream trial per finished upstream trial; best: the best one overall;
    best_per: the best per value of the `best_per` keys."""
    best_per: list[str] = []
    """Dotted keys (e.g. model.size) for select: best_per (setting it implies best_per)."""
    checkpoint: Literal["final", "best"] = "final"
    """Which upstream checkpoint to start from."""

    @model_validator(mode="after")
    def _keys_for_best_per(self) -> StageSource:
        if self.best_per and self.select == "all":
            object.__setattr__(self, "select", "best_per")
        if self.select == "best_per" and not self.best_per:
            raise ValueError("from.best_per: list the keys, e.g. [model.size]")
        return self


@dataclass(frozen=True)
class Stage:
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
    def run(self) -> Any:
        return self.stages[0].spec.run

    def fingerprint(self) -> str:
        blob = json.dumps([[s.name, s.spec.fingerprint(), str(s.source)] for s in self.stages])
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
                detail = format_validation_error(err, stage_raw["from"], StageSource)
                raise SpecError(f"{where}.from: {detail}") from None
            if src.stage not in {s.name for s in stages}:
                raise SpecError(f"{where}.from.stage: {src.stage!r} is not an earlier stage")
        body = {k: v for k, v in stage_raw.items() if k not in STAGE_KEYS}
        spec = spec_from_dict(_merge(defaults, body), source=f"{where} ({stage_name})", name=name)
        if src is not None and not hasattr(spec.base.task, "init_from"):
            raise SpecError(
                f"{where}.task.type: {spec.base.task.type} cannot start from a checkpoint; "
                "a stage with `from:` needs a task with init_from (e.g. classify)"
            )
        stages.append(Stage(stage_name, spec, src))
    return PipelineSpec(name=name, stages=stages, raw=raw)


def load_pipeline(path: str | Path, overrides: list[str] = (), name: str | None = None):
    """Load a sweep file with `stages:`; overrides apply to the shared defaults."""
    raw = read_yaml(path)
    for text in overrides:
        key, value = parse_override(text)
        try:
            set_dotted(raw, key, value)
        except SpaceError as err:
            raise SpecError(f"--set {err}") from None
    unknown = [
        k
        for k in raw
        if k not in PIPELINE_KEYS
        and k not in ("search", "resources")
        and k not in ("model", "data", "optim", "trainer", "task", "seed")
    ]
    if unknown:
        raise SpecError(f"{path}: {unknown[0]}: unknown key")
    return pipeline_from_dict(raw, source=str(path), name=name)


def select_upstream(
    rows: list[dict[str, Any]], stage: str, source: StageSource, metric: str, mode: str
) -> list[dict[str, Any]]:
    """The finished upstream rows a downstream stage starts from."""
    done = [r for r in rows if r.get("stage") == stage and r.get("status") == FINISHED]
    scored = [r for r in done if isinstance(r.get(f"best/{metric}"), (int, float))]
    better = (lambda r: r[f"best/{metric}"]) if mode == "min" else (lambda r: -r[f"best/{metric}"])
    if source.select == "all":
        return done
    if source.select == "best":
        return sorted(scored, key=better)[:1]
    groups: dict[tuple, dict[str, Any]] = {}
    for row in sorted(scored, key=better):
        groups.setdefault(tuple(row.get(k) for k in source.best_per), row)
    return list(groups.values())


def upstream_columns(row: dict[str, Any], metric: str) -> dict[str, Any]:
    """What a downstream row records of its upstream trial."""
    keep = ("trial_id", "stage", "params", "params_total", "tokens", "flops", f"best/{metric}")
    swept = [k for k in row if "." in k and not k.startswith(UPSTREAM_PREFIX)]
    return {f"{UPSTREAM_PREFIX}{k}": row.get(k) for k in (*keep, *swept)}


def stage_plan(
    stage: Stage, upstream: list[dict[str, Any]], sweep_dir: Path, upstream_metric: str
) -> Plan:
    """Cross the stage's own trials with the selected upstream trials."""
    own = make_plan(stage.spec)
    if stage.source is None:
        return own
    trials: list[TrialPoint] = []
    for row in upstream:
        trial_dir = next((sweep_dir / "trials").glob(f"*-{row['trial_id']}"), None)
        if trial_dir is None:
            continue
        record = json.loads((trial_dir / "config.json").read_text())
        extra = {
            "model": record["config"]["model"],
            "task.init_from": str(trial_dir / "checkpoints" / stage.source.checkpoint),
        }
        link = upstream_columns(row, upstream_metric)
        for point in own.trials:
            trials.append(make_trial(stage.spec, {**point.assignment, **extra}, upstream=link))
    return Plan(spec=stage.spec, trials=trials, notes=own.notes)


def estimate_plan(stage: Stage, upstream_plan: Plan | None) -> Plan:
    """Dry-run stand-in for a later stage: its trials on the upstream's planned models (all of
    them for select: all; one per group for best and best_per, chosen after upstream runs)."""
    own = make_plan(stage.spec)
    if stage.source is None or upstream_plan is None:
        return own
    picks = upstream_plan.trials
    if stage.source.select != "all":
        keys = stage.source.best_per if stage.source.select == "best_per" else []
        groups = {tuple(t.assignment.get(k) for k in keys): t for t in picks}
        picks = list(groups.values())
    trials = [
        make_trial(
            stage.spec,
            {**point.assignment, "model": up.config.model.model_dump(exclude_none=True)},
            upstream={f"{UPSTREAM_PREFIX}trial_id": up.trial_id},
        )
        for up in picks
        for point in own.trials
    ]
    note = (
        f"stage {stage.name}: from {stage.source.stage} ({stage.source.select}); which upstream "
        "trials are selected is known once that stage has run"
    )
    return Plan(spec=stage.spec, trials=trials, notes=[*own.notes, note])
