"""Multi-stage sweeps: `stages:` run in order in one sweep folder, later stages starting from
earlier stages' checkpoints (pretrain -> fine-tune), or from another finished sweep's.

Top-level trial sections (model, data, optim, trainer, task, search, resources) are defaults
that every stage may override. A stage with ``from: {stage: pretrain, select: all}`` (or
``select: best``, or ``best_per: [model.size]``) gets one trial per selected upstream trial and
per point of its own axes; each starts from the upstream trial's final checkpoint with the
upstream model, and carries the upstream's identity and swept values as ``upstream.*`` columns.
``from: {sweep: results/scaling, inherit: true}`` takes the trials of a finished sweep folder
instead (continued pretraining: `python -m sweeps.new NAME --continue results/scaling`).

    pipeline = load_pipeline("sweeps/pipeline.yaml")
    plan = linked_plan(pipeline.stages[1], pipeline.stages, rows, sweep_dir)  # after stage 0
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from contract.errors import validation_line
from contract.results import (
    FINISHED,
    SPEC_FILE,
    TRIALS_FILE,
    best_column,
    find_trial_dir,
    trial_checkpoints,
)
from sweeps.errors import SpecError
from sweeps.folder.tables import read_csv_rows
from sweeps.plan.trials import LINK_KEYS, Plan, TrialPoint, make_plan, make_trial
from sweeps.spec.space import get_dotted, is_axis_node
from sweeps.spec.sweep_spec import (
    SWEEP_KEYS,
    TRIAL_KEYS,
    SearchConfig,
    SweepSpec,
    read_with_overrides,
    read_yaml,
    refuse_rl_section,
    spec_from_dict,
)
from sweeps.stages import forecast_stage

STAGE_KEYS = ("name", "from")
UPSTREAM_PREFIX = "upstream."
"""The resolved spec a sweep folder keeps (written by sweeps.folder.sweep_dir)."""
NEW_SOURCE_FIELDS = {
    "sweep": None,
    "inherit": False,
    "forecast": None,
    "target": "10x",
    "neighbours": False,
    "bootstrap": 200,
}
"""StageSource fields newer than the pipeline fingerprint, with their defaults."""


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

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # str() feeds PipelineSpec.fingerprint: newer fields left at their defaults stay out
        # of it, so pipeline folders fingerprinted before those fields existed still resume.
        for key, value in super().__repr_args__():
            if key not in NEW_SOURCE_FIELDS or value != NEW_SOURCE_FIELDS[key]:
                yield key, value

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
                detail = validation_line(err, stage_raw["from"], StageSource)
                raise SpecError(f"{where}.from: {detail}") from None
            if src.stage is not None and src.stage not in {s.name for s in stages}:
                raise SpecError(f"{where}.from.stage: {src.stage!r} is not an earlier stage")
            if src.forecast is not None and src.forecast not in {s.name for s in stages}:
                raise SpecError(f"{where}.from.forecast: {src.forecast!r} is not an earlier stage")
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


def select_upstream(
    rows: list[dict[str, Any]], stage: str, source: StageSource, metric: str, mode: str
) -> list[dict[str, Any]]:
    """The finished upstream rows a downstream stage starts from."""
    done = [r for r in rows if r.get("stage") == stage and r.get("status") == FINISHED]
    scored = [r for r in done if isinstance(r.get(best_column(metric)), (int, float))]
    better = (
        (lambda r: r[best_column(metric)]) if mode == "min" else (lambda r: -r[best_column(metric)])
    )
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
    keep = ("trial_id", "stage", "params", "params_total", "tokens", "flops", best_column(metric))
    swept = [k for k in row if "." in k and not k.startswith(UPSTREAM_PREFIX)]
    return {f"{UPSTREAM_PREFIX}{k}": row.get(k) for k in (*keep, *swept)}


def _is_set(tree: dict[str, Any], path: str) -> bool:
    """Whether the dotted `path` is present in `tree` (a config dumped with exclude_unset)."""
    try:
        get_dotted(tree, path)
    except (KeyError, TypeError):
        return False
    return True


def stage_plan(
    stage: Stage, upstream: list[dict[str, Any]], sweep_dir: Path, upstream_metric: str
) -> Plan:
    """Cross the stage's own trials with the selected upstream trials, whose folders are in
    `sweep_dir` (in from.sweep when the stage starts from another sweep)."""
    own = make_plan(stage.spec)
    src = stage.source
    if src is None:
        return own
    folder = Path(src.sweep) if src.sweep is not None else sweep_dir
    own_tree = stage.spec.base.model_dump(mode="json", exclude_unset=True)
    trials: dict[str, TrialPoint] = {}
    for row in upstream:
        trial_dir = find_trial_dir(folder, row["trial_id"])
        if trial_dir is None:
            continue
        record = json.loads((trial_dir / "config.json").read_text())
        extra = {
            "model": record["config"]["model"],
            "task.init_from": str(trial_checkpoints(trial_dir) / src.checkpoint),
        }
        inherited = {
            k: v
            for k, v in record["assignment"].items()
            if src.inherit
            and k not in LINK_KEYS
            and not k.startswith("model.")
            and not _is_set(own_tree, k)
        }
        link = upstream_columns(row, upstream_metric)
        for point in own.trials:
            assignment = {**point.assignment, **inherited, **extra}
            trial = make_trial(stage.spec, assignment, upstream=link)
            trials.setdefault(trial.trial_id, trial)  # inherited values may repeat own points
    return Plan(spec=stage.spec, trials=list(trials.values()), notes=own.notes)


def linked_plan(
    stage: Stage, stages: list[Stage], rows: list[dict[str, Any]], sweep_dir: Path
) -> Plan:
    """The trials of a stage with `from:` once its upstream has run: an earlier stage of this
    sweep (its rows among `rows`, its folders in `sweep_dir`) or a finished sweep folder."""
    src = stage.source
    if src is None:
        return make_plan(stage.spec)
    if src.forecast is not None:
        forecast = forecast_stage.ensure_forecast(
            sweep_dir, src.forecast, src.target, forecast_dir(stage, sweep_dir), src.bootstrap
        )
        grid = next(s for s in stages if s.name == src.forecast).spec.compute
        repeat = bool(grid is not None and grid.repeat_data)  # never silently
        spec, plan = forecast_stage.forecast_plan(stage, forecast, src.neighbours, repeat)
        note = (
            f"stage {stage.name}: forecast {forecast.forecast_id} at C={forecast.target_flops:.3g}"
        )
        return Plan(spec=spec, trials=plan.trials, notes=[*plan.notes, note])
    if src.sweep is not None:
        origin = read_sweep_origin(src.sweep)
        rows, name, search = read_csv_rows(origin.folder / TRIALS_FILE), origin.stage, origin.search
    else:
        name, search = src.stage, next(s for s in stages if s.name == src.stage).spec.search
    selected = select_upstream(rows, name, src, search.metric, search.mode)
    return stage_plan(stage, selected, sweep_dir, search.metric)


def estimate_plan(stage: Stage, upstream_plan: Plan | None) -> Plan:
    """Dry-run stand-in for a later stage: its trials on the upstream's planned models (all of
    them for select: all; one per group for best and best_per, chosen after upstream runs)."""
    if stage.source is not None and stage.source.sweep is not None:
        # A finished folder: the selected trials are known already.
        plan = linked_plan(stage, [], [], Path(stage.source.sweep))
        note = f"stage {stage.name}: {len(plan.trials)} trials from {stage.source.origin}"
        return Plan(spec=plan.spec, trials=plan.trials, notes=[*plan.notes, note])
    own = make_plan(stage.spec)
    if stage.source is not None and stage.source.forecast is not None:
        note = (
            f"stage {stage.name}: the forecast run of stage {stage.source.forecast} at "
            f"{stage.source.target}; its size and tokens are known once that stage is fitted"
        )
        return Plan(spec=own.spec, trials=own.trials, notes=[*own.notes, note])
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


def forecast_dir(stage: Stage, sweep_dir: Path) -> Path:
    """Where a forecast stage preregisters its forecast (and the fit's report and plots)."""
    return sweep_dir / f"{stage.name}-forecast"


def finish_stage(stage: Stage, sweep_dir: Path) -> list[str]:
    """What a stage does once its trials are done: a forecast stage scores its run (and
    returns the ledger row's line, for the sweep's last words)."""
    if stage.source is not None and stage.source.forecast is not None:
        return forecast_stage.score(sweep_dir, stage.name, forecast_dir(stage, sweep_dir))
    return []
