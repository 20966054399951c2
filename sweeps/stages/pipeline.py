"""Multi-stage sweeps: `stages:` run in order in one sweep folder, later stages starting from
earlier stages' checkpoints (pretrain -> fine-tune), or from another finished sweep's.

A stage with ``from: {stage: pretrain, select: all}`` (or ``select: best``, or
``best_per: [model.size]``) gets one trial per selected upstream trial and per point of its
own axes; each starts from the upstream trial's final checkpoint with the upstream model, and
carries the upstream's identity and swept values as ``upstream.*`` columns.
``from: {sweep: results/scaling, inherit: true}`` takes the trials of a finished sweep folder
instead (continued pretraining: `python -m sweeps.new NAME --continue results/scaling`). The
file's typed form (`PipelineSpec`, `load_pipeline`) is in sweeps.stages.pipeline_spec.

    pipeline = load_pipeline("sweeps/pipeline.yaml")
    plan = linked_plan(pipeline.stages[1], pipeline.stages, rows, sweep_dir)  # after stage 0
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.metrics import FLOPS, PARAMS, PARAMS_TOTAL, TOKENS
from contract.results import (
    FINISHED,
    STAGE,
    STATUS,
    TRIAL_ID,
    TRIALS_FILE,
    best_column,
    find_trial_dir,
    read_trial_record,
    trial_checkpoints,
)
from sweeps.errors import SpecError
from sweeps.folder.tables import read_csv_rows
from sweeps.plan.trials import LINK_KEYS, Plan, TrialPoint, make_plan, make_trial
from sweeps.spec.space import get_dotted
from sweeps.stages import forecast_stage
from sweeps.stages.pipeline_spec import (
    STAGE_KEYS,
    UPSTREAM_PREFIX,
    PipelineSpec,
    Stage,
    StageSource,
    SweepOrigin,
    _merge,
    is_pipeline,
    load_pipeline,
    pipeline_from_dict,
    pipeline_from_raw,
    read_sweep_origin,
)

__all__ = [  # the spec's names too: callers import the whole of multi-stage sweeps from here
    "FINISHED",
    "STAGE_KEYS",
    "UPSTREAM_PREFIX",
    "PipelineSpec",
    "Stage",
    "StageSource",
    "SweepOrigin",
    "_merge",
    "estimate_plan",
    "finish_stage",
    "forecast_dir",
    "is_pipeline",
    "linked_plan",
    "load_pipeline",
    "pipeline_from_dict",
    "pipeline_from_raw",
    "read_sweep_origin",
    "select_upstream",
    "stage_plan",
    "upstream_columns",
]


def select_upstream(
    rows: list[dict[str, Any]], stage: str, source: StageSource, metric: str, mode: str
) -> list[dict[str, Any]]:
    """The finished upstream rows a downstream stage starts from."""
    done = [r for r in rows if r.get(STAGE) == stage and r.get(STATUS) == FINISHED]
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
    keep = (TRIAL_ID, STAGE, PARAMS, PARAMS_TOTAL, TOKENS, FLOPS, best_column(metric))
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
        trial_dir = find_trial_dir(folder, row[TRIAL_ID])
        if trial_dir is None:
            continue
        try:
            record = read_trial_record(trial_dir)
        except ValueError as err:
            raise SpecError(f"stage {stage.name}: {err}") from None
        extra = {
            "model": record.config["model"],
            "task.init_from": str(trial_checkpoints(trial_dir) / src.checkpoint),
        }
        inherited = {
            k: v
            for k, v in record.assignment.items()
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
            upstream={UPSTREAM_PREFIX + TRIAL_ID: up.trial_id},
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
