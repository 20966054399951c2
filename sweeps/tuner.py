"""Run a planned sweep on Ray Tune: the one module that talks to `ray.tune`.

Each trial is a Tune function trainable that builds a Ray Train `TorchTrainer` (or runs an
RLlib algorithm). Single-worker trials use Train's local mode (training inside the trial
process, reused across trials), which costs well under a second of orchestration instead of
a fresh controller and worker group per trial; their reports go straight to Tune. Multi-worker
trials get a real worker group whose reports reach Tune through `TuneReportCallback`.

    plan = make_plan(load_spec("sweeps/smoke.yaml"))
    status = run_sweep(plan, storage="/tmp/results")     # 0 unless every trial failed
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler
from ray.tune.trainable import wrap_function

from contract.metrics import TOKENS
from contract.results import (
    ATTEMPTS_FILE,
    ERROR_FILE,
    FAILED,
    FINISHED,
    INTERRUPTED,
    TRIALS_DIR,
    best_column,
    trial_checkpoints,
)
from sweeps.cluster import check_address, connect, end_leftover_ray
from sweeps.errors import describe_crash
from sweeps.interrupt import INTERRUPT
from sweeps.pipeline import PipelineSpec, Stage, finish_stage, linked_plan
from sweeps.plan import Plan, TrialPoint, largest_first, make_plan, make_trial
from sweeps.progress import Progress
from sweeps.resources import WorkerResources, max_concurrent
from sweeps.space import to_tune
from sweeps.spec import is_rl_trial, spec_from_dict
from sweeps.stage_loop import stage_work
from sweeps.sweep_dir import SweepLock, open_sweep_dir
from sweeps.tables import ResultTables
from sweeps.trackers import tracker_callbacks
from sweeps.view import LiveView
from trainers.config import RunConfig

_PLANNED: dict[str, TrialPoint] = {}
"""Planned trials of this driver by trial id: the callbacks and the scheduler look them up."""
_BY_TUNE_TRIAL: dict[str, TrialPoint] = {}


def _payload(point: TrialPoint) -> dict[str, Any]:
    """What a planned trial's process receives: its resolved config and identity as plain data
    (validated once, in that process), never the whole spec."""
    return {
        "trial_id": point.trial_id,
        "dirname": point.dirname,
        "assignment": point.assignment,
        "rl": is_rl_trial(point.config),
        # Only what was set: validating defaults as if written would trip validators that
        # reject options the user never chose (the spec validates its trees the same way).
        "config": point.config.model_dump(mode="json", exclude_unset=True),
        "resources": point.resources.model_dump(mode="json"),
    }


def _adaptive_point(config: dict[str, Any]) -> TrialPoint:
    """An Optuna trial: the spec and the sampled assignment, resolved where it runs."""
    spec = spec_from_dict(config["spec"], source="<sweep>")
    return make_trial(spec, {path: config[path] for path in spec.axes})


def _swept_columns(points: list[TrialPoint]) -> dict[str, Any]:
    """Each swept value as a top-level config key named by its dotted path, resolved from the
    trial's payload, so Tune's dataframes, the trackers and the dashboard show `model.size`
    rather than a nested payload."""
    paths = sorted({path for point in points for path in point.assignment})
    return {
        path: tune.sample_from(lambda s, path=path: s.config["trial"]["assignment"].get(path))
        for path in paths
    }


def _point_of(trial: Any) -> TrialPoint:
    """The TrialPoint of a Tune trial in the driver: planned trials by their id, Optuna's by
    Tune's trial id (resolved once; the callbacks and scheduler ask on every event)."""
    point = _BY_TUNE_TRIAL.get(trial.trial_id)
    if point is None:
        payload = trial.config.get("trial")
        point = _PLANNED[payload["trial_id"]] if payload else _adaptive_point(trial.config)
        _BY_TUNE_TRIAL[trial.trial_id] = point
    return point


def _trial_config(payload: dict[str, Any]) -> Any:
    if payload["rl"]:
        from rl.config import RLRunConfig

        return RLRunConfig.model_validate(payload["config"])
    return RunConfig.model_validate(payload["config"])


def _failure_text(err: BaseException) -> str:
    """The innermost error's own message: Ray wraps worker errors in several layers."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{err.__class__.__name__}: {lines[-1] if lines else ''}".strip()


def _is_divergence(err: BaseException) -> bool:
    return "TrialDiverged" in repr(err) or "TrialDiverged" in str(err)


def _trial_main(config: dict[str, Any]) -> None:
    """The Tune trainable of every trial: record its config, train, record why it failed."""
    payload = config.get("trial")
    if payload:
        trial_id, dirname = payload["trial_id"], payload["dirname"]
        run_config = _trial_config(payload)
        resources = WorkerResources.model_validate(payload["resources"])
        assignment = payload.get("assignment", {})
    else:
        point = _adaptive_point(config)
        trial_id, dirname, run_config = point.trial_id, point.dirname, point.config
        resources, assignment = point.resources, point.assignment
    trial_dir = Path(config["sweep_dir"]) / TRIALS_DIR / dirname
    trial_dir.mkdir(parents=True, exist_ok=True)
    (trial_dir / ERROR_FILE).unlink(missing_ok=True)
    record = {
        "trial_id": trial_id,
        "assignment": assignment,
        "config": run_config.model_dump(mode="json"),
        "resources": resources.model_dump(mode="json"),
    }
    (trial_dir / "config.json").write_text(json.dumps(record, indent=2, default=str))
    _log_attempt(trial_dir)
    try:
        if is_rl_trial(run_config):
            from rl import train as rl_train
            from trainers.ray_worker import TrialReporter

            reporter = TrialReporter(trial_dir, tune.report)
            rl_train(run_config, reporter, resources.cpus_per_worker, str(trial_dir))
        else:
            from trainers.ray_worker import fit_trial

            fit_trial(
                run_config,
                resources,
                trial_dir,
                f"train-trial_id={trial_id}",
                report=tune.report,
                make_callbacks=lambda: [TuneReportCallback()],
            )
    except Exception as err:
        (trial_dir / ERROR_FILE).write_text(_failure_text(err))
        if _is_divergence(err):
            return  # recorded as failed; retrying a diverging config would only diverge again
        raise


def _log_attempt(trial_dir: Path) -> None:
    """Append this attempt to the trial's attempts.log: when, which process, from where."""
    latest = trial_checkpoints(trial_dir) / "latest"
    start = "resumed from checkpoints/latest" if latest.is_dir() else "started fresh"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    node = ray.get_runtime_context().get_node_id()
    with (trial_dir / ATTEMPTS_FILE).open("a", encoding="utf-8") as f:
        f.write(f"{stamp} pid={os.getpid()} node={node} {start}\n")


class _Tables(tune.Callback):
    """Mirror Tune's trial events into the sweep's result tables and progress line."""

    def __init__(
        self, tables: ResultTables, progress: Progress, view: LiveView | None = None
    ) -> None:
        self.tables, self.progress, self.view = tables, progress, view

    def on_trial_start(self, iteration, trials, trial, **info):
        point = _point_of(trial)
        self.tables.trial_started(point)
        self.progress.update(self.tables, point)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.tables.trial_reported(_point_of(trial).trial_id, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        point = _point_of(trial)
        _release(trial, point)
        error = _read_error(point, trial)
        status = FAILED if error else FINISHED
        if INTERRUPT.requested:  # stopped by Ctrl-C / SIGTERM: a resume runs it again
            status, error = INTERRUPTED, None
        else:
            _register_checkpoint(trial, _trial_dir(point, trial))
        self.tables.trial_ended(point.trial_id, status, error)
        self.progress.update(self.tables)
        if self.view is not None:
            self.tables.flush()  # the background fit reads trials.csv
            self.view.trial_ended()

    def on_trial_error(self, iteration, trials, trial, **info):
        point = _point_of(trial)
        _release(trial, point)
        if INTERRUPT.requested:  # its process got the signal too: not a failure of its own
            self.tables.trial_ended(point.trial_id, INTERRUPTED)
        else:
            error = _read_error(point, trial) or describe_crash(_tune_error_text(trial))
            self.tables.trial_ended(point.trial_id, FAILED, error)
        self.progress.update(self.tables)


def _trial_dir(point: TrialPoint, trial: Any) -> Path:
    return Path(trial.config["sweep_dir"]) / TRIALS_DIR / point.dirname


def _register_checkpoint(trial: Any, trial_dir: Path) -> None:
    """Give Tune the trial's final checkpoint, so `Result.checkpoint` (from this run's
    ResultGrid, `Tuner.restore` or ExperimentAnalysis) opens it. The trial wrote it in its own
    folder (shared storage on a cluster): Tune gets a Checkpoint over that folder, not a copy
    (reporting it from the trial would copy it into Tune's folder on every save)."""
    from ray.train._internal.session import _TrainingResult

    from trainers.checkpoint import FINAL, LATEST

    ckpts = trial_checkpoints(trial_dir)
    folder = next((ckpts / n for n in (FINAL, LATEST) if (ckpts / n).is_dir()), None)
    if folder is None:
        return
    metrics = {k: v for k, v in (trial.last_result or {}).items() if k != "config"}
    trial.on_checkpoint(_TrainingResult(checkpoint=tune.Checkpoint(str(folder)), metrics=metrics))


def _release(trial: Any, point: TrialPoint) -> None:
    if point.resources.uses_worker_group:
        from trainers.ray_worker import release_worker_group

        release_worker_group(_trial_dir(point, trial))


def _read_error(point: TrialPoint, trial: Any) -> str | None:
    path = _trial_dir(point, trial) / ERROR_FILE
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


class StratifiedScheduler(FIFOScheduler):
    """One ASHA bracket per value of the stratification keys (e.g. per model size), so a small
    model is only ever compared with models of its own size at equal tokens."""

    def __init__(self, keys: list[str], **asha: Any) -> None:
        super().__init__()
        self.keys, self.asha, self.brackets = keys, asha, {}

    def _bracket(self, trial) -> ASHAScheduler:
        assignment = _point_of(trial).assignment
        key = tuple(assignment.get(k) for k in self.keys)
        if key not in self.brackets:
            self.brackets[key] = ASHAScheduler(**self.asha)
        return self.brackets[key]

    def on_trial_add(self, tune_controller, trial):
        self._bracket(trial).on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result):
        return self._bracket(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial, result):
        self._bracket(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial):
        self._bracket(trial).on_trial_remove(tune_controller, trial)


def _scheduler(plan: Plan) -> TrialScheduler:
    search = plan.spec.search
    if search.scheduler.type == "fifo":
        return FIFOScheduler()
    max_t = max((t.tokens for t in plan.trials), default=1)
    grace = search.scheduler.grace_tokens or max(1, max_t // 16)
    asha = dict(
        time_attr=TOKENS,
        metric=search.metric,
        mode=search.mode,
        max_t=max_t,
        grace_period=min(grace, max_t),
        reduction_factor=search.scheduler.reduction_factor,
    )
    if search.scheduler.stratify_by:
        return StratifiedScheduler(list(search.scheduler.stratify_by), **asha)
    return ASHAScheduler(**asha)


def _resources(config: dict[str, Any]) -> tune.PlacementGroupFactory:
    """What Tune reserves for a trial (asked in the driver, before the trial starts)."""
    payload = config.get("trial")
    point = _PLANNED[payload["trial_id"]] if payload else _adaptive_point(config)
    if is_rl_trial(point.config):
        from rl import resources as rl_resources

        return tune.PlacementGroupFactory(
            rl_resources(point.config, point.resources.cpus_per_worker)
        )
    return tune.PlacementGroupFactory([point.resources.trial_bundle()])


class SweepTrial(wrap_function(_trial_main)):
    """The trial process. Ray's dashboard lists it as SweepTrial named by its trial's folder
    (Ray takes an actor's name from its repr when the actor starts; a process reused for a
    later trial keeps the first one's name)."""

    def __repr__(self) -> str:
        config = getattr(self, "config", None) or {}
        try:
            payload = config.get("trial")
            return payload["dirname"] if payload else _adaptive_point(config).dirname
        except Exception:  # never let a name break a trial
            return "SweepTrial"


TRAINABLE = tune.with_resources(SweepTrial, _resources)
"""The Tune trainable of every trial. Ray's API opens a finished sweep with it:
`tune.Tuner.restore(f"{sweep}/tune/main-attempt-1", trainable=TRAINABLE).get_results()`."""


def run_stage(
    plan: Plan,
    todo: list[TrialPoint],
    remaining: int,
    sweep_dir: Path,
    tables: ResultTables,
    available: dict[str, float],
    attempt: int,
    stage: str = "main",
    view: LiveView | None = None,
) -> None:
    """Run the trials of one stage under one Tuner: `todo` (planned searches) or `remaining`
    trials chosen by Optuna."""
    spec = plan.spec
    total = spec.search.num_samples if plan.adaptive else len(plan.trials)
    search = spec.search
    limit = spec.resources.max_concurrent_trials
    if limit == "auto":
        needs = [t.resources for t in plan.trials]
        if plan.adaptive or any(r.uses_worker_group for r in needs):
            limit = max_concurrent(available, needs)
        else:
            # Tune reserves everything a single-worker trial uses, so its own admission is
            # safe, and pending trials are what an autoscaling cluster scales up for.
            limit = None
    common: dict[str, Any] = {"sweep_dir": str(sweep_dir)}
    search_alg = None
    num_samples = 1
    if plan.adaptive:
        param_space = {**common, "spec": spec.to_dict(), **to_tune(spec.axes)}
        search_alg = _optuna_search(spec, tables, sweep_dir, attempt, stage)
        num_samples = remaining
    else:
        _PLANNED.update({t.trial_id: t for t in todo})
        # Tune starts grid points in order: largest planned compute first, so the longest
        # trial does not run alone at the end while the other slots idle.
        ordered = largest_first(todo)
        param_space = {
            **common,
            "trial": tune.grid_search([_payload(t) for t in ordered]),
            **_swept_columns(ordered),
        }
    # A trial that fails before its first evaluation ends without the metric; that is a
    # recorded failure, not a reason for Tune to abort the whole sweep.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    # The loggers are chosen in sweeps.trackers: Tune's JSON logger (what Ray's own readers
    # of an experiment need) and the trackers the spec asks for; Tune's automatic CSV logger
    # would only repeat curves.csv.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Ctrl-C and SIGTERM are the sweep's (sweeps.interrupt): Tune's own SIGINT handler would
    # end the run with every running row left RUNNING and exit 0.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    # The sweep prints its own progress (sweeps.progress); Tune's new console output would
    # add its config box and a results pointer whatever `verbose` says.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # What this run will train, for the ETA: the planned trials left, or Optuna's remaining
    # samples at the mean planned size of the sweep's points.
    sizes = [t.flops for t in (todo or plan.trials)]
    planned = sum(sizes) if todo else remaining * sum(sizes) / len(sizes) if sizes else None
    progress = Progress(spec.name, total, planned_flops=planned)
    tuner = tune.Tuner(
        TRAINABLE,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=_scheduler(plan),
            num_samples=num_samples,
            max_concurrent_trials=limit,
            # A reused trial process skips a Ray worker start and the torch import. But a
            # trial that the scheduler stops early must take its process with it when it owns
            # a worker group: a reused actor would keep the group's controller and placement
            # group alive. Trials that always run to the end can reuse either way.
            reuse_actors=search.scheduler.type == "fifo"
            or not any(t.resources.uses_worker_group for t in plan.trials),
            trial_name_creator=lambda t: _point_of(t).dirname,
            trial_dirname_creator=lambda t: _point_of(t).dirname,
        ),
        run_config=tune.RunConfig(
            name=f"{stage}-attempt-{attempt}",
            storage_path=str((sweep_dir / "tune").resolve()),
            failure_config=tune.FailureConfig(max_failures=spec.run.max_failures),
            callbacks=[
                _Tables(tables, progress, view),
                *tracker_callbacks(spec.logging, sweep_dir, spec.name),
            ],
            stop=_InterruptStopper(),
            verbose=0,
        ),
    )
    INTERRUPT.arm()  # ray.init installs its own SIGTERM handler
    if not INTERRUPT.requested:
        try:
            tuner.fit()
        finally:
            progress.close()


def _optuna_search(
    spec: Any, tables: ResultTables, sweep_dir: Path, attempt: int, stage: str
) -> Any:
    """Ray's OptunaSearch over the spec's axes, its study kept in the sweep folder's journal.

    The journal is the study's history on a resume; a sweep folder without one (written
    before the journal existed) seeds the study from the result tables instead. A new seed per
    attempt keeps the sampler from re-proposing its first points."""
    from ray.tune.search.optuna import OptunaSearch

    from sweeps import study

    search = spec.search
    objectives = search.objectives
    columns = [best_column(search.metric)] + search.more_metrics
    known = []
    if not study.has_history(sweep_dir, stage):
        known = [
            row
            for row in tables.trials.values()
            if all(isinstance(row.get(c), (int, float)) for c in columns)
        ]
    multi = len(objectives) > 1
    rewards = [[row[c] for c in columns] if multi else row[columns[0]] for row in known]
    return OptunaSearch(
        metric=[m for m, _ in objectives] if multi else search.metric,
        mode=[m for _, m in objectives] if multi else search.mode,
        sampler=study.make_sampler(search.sampler, search.seed + attempt - 1),
        storage=study.journal_storage(sweep_dir),
        study_name=study.study_name(stage),
        points_to_evaluate=[{path: row[path] for path in spec.axes} for row in known] or None,
        evaluated_rewards=rewards or None,
    )


class _InterruptStopper(tune.Stopper):
    """Ends the whole Tune run once the sweep was asked to stop (sweeps.interrupt)."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return INTERRUPT.requested


def _tune_error_text(trial: Any) -> str:
    """What Ray recorded about a trial whose process died."""
    try:
        return str(trial.get_error() or "")
    except Exception:  # the error file may be missing or unpicklable
        return ""


def run_sweep(
    plan: Plan,
    storage: str,
    address: str | None = None,
    resume: bool = False,
    force: bool = False,
    retry_failed: bool = False,
    view: bool = False,
) -> int:
    """Run what is left of a one-stage sweep in <storage>/<name>/; returns the exit status.
    `view` serves the live scaling page (sweeps.view) and writes its offline copy."""
    stage = Stage("main", plan.spec, None)
    return _run_stages(
        plan.spec, [stage], {"main": plan}, storage, address, resume, force, retry_failed, view
    )


def run_pipeline(
    pipeline: PipelineSpec,
    storage: str,
    address: str | None = None,
    resume: bool = False,
    force: bool = False,
    retry_failed: bool = False,
    view: bool = False,
) -> int:
    """Run the stages in order in one sweep folder; finished stages and trials are skipped."""
    return _run_stages(
        pipeline, pipeline.stages, {}, storage, address, resume, force, retry_failed, view
    )


def _run_stages(
    identity: Any,
    stages: list[Stage],
    plans: dict[str, Plan],
    storage: str,
    address: str | None,
    resume: bool,
    force: bool,
    retry_failed: bool,
    view: bool = False,
) -> int:
    check_address(address)
    available: dict[str, float] | None = None
    live: LiveView | None = None
    with INTERRUPT, SweepLock(Path(storage) / identity.name):  # lock before any write
        sweep_dir = open_sweep_dir(identity, storage, resume=resume, force=force).resolve()
        end_leftover_ray(sweep_dir)
        for stage in stages:
            search = stage.spec.search
            tables = ResultTables(sweep_dir, search.metric, search.mode, stage=stage.name)
            plan = plans.get(stage.name) or _plan_stage(stage, stages, tables, sweep_dir)
            work = stage_work(plan, tables.trials, stage.name, retry_failed)
            todo, done, remaining = work.todo, work.done, work.remaining
            for point in todo:
                tables.trial_planned(point)
            tables.flush()
            label = identity.name + (f" / {stage.name}" if len(stages) > 1 else "")
            print(
                f"[{label}] {remaining} trials to run, {done} already done -> {sweep_dir}",
                flush=True,
            )
            if remaining:
                available = available or connect(address, sweep_dir=sweep_dir)
                if view and live is None:
                    live = LiveView(sweep_dir)
                    print(f"Live page: {live.start()}", flush=True)
                attempt = len(list((sweep_dir / "tune").glob(f"{stage.name}-attempt-*"))) + 1
                try:
                    run_stage(
                        plan,
                        todo,
                        remaining,
                        sweep_dir,
                        tables,
                        available,
                        attempt,
                        stage.name,
                        live,
                    )
                except KeyboardInterrupt:  # a second Ctrl-C: abort, rows say what happened
                    tables.interrupt_running()
                    if live is not None:
                        live.close(wait=False)
                    raise
            if INTERRUPT.requested:
                tables.interrupt_running()
                break
            finish_stage(stage, sweep_dir)  # a forecast stage scores its run
        counts = tables.summary(all_stages=True)
        if live is not None:
            print(f"Scaling page: {live.close(wait=not INTERRUPT.requested)}", flush=True)
    if INTERRUPT.requested:
        name = signal.Signals(INTERRUPT.signum).name
        print(f"[{identity.name}] stopped by {name}: {counts}; tables in {sweep_dir}", flush=True)
        return INTERRUPT.exit_status
    print(f"[{identity.name}] finished: {counts}; tables in {sweep_dir}", flush=True)
    statuses = [row["status"] for row in tables.trials.values()]
    return 1 if statuses and all(status == FAILED for status in statuses) else 0


def _plan_stage(stage: Stage, stages: list[Stage], tables: ResultTables, sweep_dir: Path) -> Plan:
    """A stage's trials; a later stage's depend on what its upstream (an earlier stage, or a
    finished sweep folder) finished."""
    if stage.source is None:
        return make_plan(stage.spec)
    return linked_plan(stage, stages, list(tables.trials.values()), sweep_dir)
