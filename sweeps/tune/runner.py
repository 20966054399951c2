"""Run a planned sweep on Ray Tune, stage by stage: the runner of the Ray Tune edge.

Each trial is a Tune function trainable that builds a Ray Train `TorchTrainer` (or runs an
RLlib algorithm). Single-worker trials use Train's local mode (training inside the trial
process, reused across trials), which costs well under a second of orchestration instead of
a fresh controller and worker group per trial; their reports go straight to Tune. Multi-worker
trials get a real worker group whose reports reach Tune through `TuneReportCallback`.

Only this module and its two siblings, `sweeps.tune.trainable` (what runs in a trial's process)
and `sweeps.tune.events` (Tune's events into the tables, the scheduler, Optuna), plus the
logger callbacks of `sweeps.tune.trackers`, import `ray.tune`.

    plan = make_plan(load_spec("sweeps/smoke.yaml"))
    status = run_sweep(plan, storage="/tmp/results")     # 0 unless every trial failed
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from contract.results import FAILED
from sweeps.folder.remaining import StageWork, stage_work
from sweeps.folder.sweep_dir import SweepLock, open_sweep_dir
from sweeps.folder.tables import ResultTables
from sweeps.plan.recentre import stage_rounds
from sweeps.plan.resources import max_concurrent
from sweeps.plan.trials import Plan, TrialPoint, largest_first, make_plan
from sweeps.spec.space import to_tune
from sweeps.stages.pipeline import PipelineSpec, Stage, finish_stage, linked_plan
from sweeps.tune.events import InterruptStopper, TableEvents, make_scheduler, optuna_search
from sweeps.tune.interrupt import INTERRUPT
from sweeps.tune.ray_cluster import check_address, connect, end_leftover_ray
from sweeps.tune.trackers import tracker_callbacks
from sweeps.tune.trainable import PLANNED, TRAINABLE, point_of, swept_columns, trial_payload
from sweeps.watch.progress import Progress
from sweeps.watch.server import LiveView

__all__ = ["TRAINABLE", "run_pipeline", "run_stage", "run_sweep"]


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
        search_alg = optuna_search(spec, tables, sweep_dir, attempt, stage)
        num_samples = remaining
    else:
        PLANNED.update({t.trial_id: t for t in todo})
        # Tune starts grid points in order: largest planned compute first, so the longest
        # trial does not run alone at the end while the other slots idle.
        ordered = largest_first(todo)
        param_space = {
            **common,
            "trial": tune.grid_search([trial_payload(t) for t in ordered]),
            **swept_columns(ordered),
        }
    # A trial that fails before its first evaluation ends without the metric; that is a
    # recorded failure, not a reason for Tune to abort the whole sweep.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    # The loggers are chosen in sweeps.tune.trackers: Tune's JSON logger (what Ray's own readers
    # of an experiment need) and the trackers the spec asks for; Tune's automatic CSV logger
    # would only repeat curves.csv.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Ctrl-C and SIGTERM are the sweep's (sweeps.tune.interrupt): Tune's own SIGINT handler would
    # end the run with every running row left RUNNING and exit 0.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    # The sweep prints its own progress (sweeps.watch.progress); Tune's new console output would
    # add its config box and a results pointer whatever `verbose` says.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # What this run will train, for the ETA: the planned trials left, or Optuna's remaining
    # samples at the mean planned size of the sweep's points.
    trials = todo or plan.trials
    share = 1.0 if todo else remaining / len(trials) if trials else 0.0
    planned = share * sum(t.flops for t in trials) if trials else None
    tokens = share * sum(t.tokens for t in trials) if trials else None
    progress = Progress(spec.name, total, planned_flops=planned, planned_tokens=tokens)
    tuner = tune.Tuner(
        TRAINABLE,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=make_scheduler(plan),
            num_samples=num_samples,
            max_concurrent_trials=limit,
            # A reused trial process skips a Ray worker start and the torch import. But a
            # trial that the scheduler stops early must take its process with it when it owns
            # a worker group: a reused actor would keep the group's controller and placement
            # group alive. Trials that always run to the end can reuse either way.
            reuse_actors=search.scheduler.type == "fifo"
            or not any(t.resources.uses_worker_group for t in plan.trials),
            trial_name_creator=lambda t: point_of(t).dirname,
            trial_dirname_creator=lambda t: point_of(t).dirname,
        ),
        run_config=tune.RunConfig(
            name=f"{stage}-attempt-{attempt}",
            storage_path=str((sweep_dir / "tune").resolve()),
            failure_config=tune.FailureConfig(max_failures=spec.run.max_failures),
            callbacks=[
                TableEvents(tables, progress, view),
                *tracker_callbacks(spec.logging, sweep_dir, spec.name),
            ],
            stop=InterruptStopper(),
            verbose=0,
        ),
    )
    INTERRUPT.arm()  # ray.init installs its own SIGTERM handler
    if not INTERRUPT.requested:
        try:
            tuner.fit()
        finally:
            progress.close()


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
    `view` serves the live scaling page (sweeps.watch.server) and writes its offline copy.
    A `storage` in object storage (s3://...) runs in a staging folder copied to the bucket."""
    from sweeps.folder.bucket import staged

    stage = Stage("main", plan.spec, None)
    with staged(storage, plan.spec.name) as root:
        return _run_stages(
            plan.spec, [stage], {"main": plan}, root, address, resume, force, retry_failed, view
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
    from sweeps.folder.bucket import staged

    with staged(storage, pipeline.name) as root:
        return _run_stages(
            pipeline, pipeline.stages, {}, root, address, resume, force, retry_failed, view
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
    side = _RaySide(address, view)
    scored: list[str] = []  # ledger rows, repeated as the last lines
    with INTERRUPT, SweepLock(Path(storage) / identity.name):  # lock before any write
        sweep_dir = open_sweep_dir(identity, storage, resume=resume, force=force).resolve()
        end_leftover_ray(sweep_dir)
        for stage in stages:
            search = stage.spec.search
            tables = ResultTables(sweep_dir, search.metric, search.mode, stage=stage.name)
            plan = plans.get(stage.name) or _plan_stage(stage, stages, tables, sweep_dir)
            label = identity.name + (f" / {stage.name}" if len(stages) > 1 else "")
            for part in stage_rounds(plan, tables, sweep_dir, stage.name, identity):
                work = stage_work(part, tables.trials, stage.name, retry_failed)
                _run_work(part, work, stage.name, label, sweep_dir, tables, side)
                if INTERRUPT.requested:
                    break
            if INTERRUPT.requested:
                tables.interrupt_running()
                break
            scored += finish_stage(stage, sweep_dir)  # a forecast stage scores its run
        counts = tables.summary(all_stages=True)
        if side.live is not None:
            print(f"Scaling page: {side.live.close(wait=not INTERRUPT.requested)}", flush=True)
    if INTERRUPT.requested:
        name = signal.Signals(INTERRUPT.signum).name
        print(f"[{identity.name}] stopped by {name}: {counts}; tables in {sweep_dir}", flush=True)
        return INTERRUPT.exit_status
    print(f"[{identity.name}] finished: {counts}; tables in {sweep_dir}", flush=True)
    for line in scored:
        print(f"ledger: {line}", flush=True)
    statuses = [row["status"] for row in tables.trials.values()]
    return 1 if statuses and all(status == FAILED for status in statuses) else 0


@dataclass
class _RaySide:
    """Ray and the live page, started once, by the first stage that has trials to run."""

    address: str | None
    view: bool
    available: dict[str, float] | None = None
    live: LiveView | None = None

    def start(self, sweep_dir: Path) -> None:
        self.available = self.available or connect(self.address, sweep_dir=sweep_dir)
        if self.view and self.live is None:
            self.live = LiveView(sweep_dir)
            print(f"Live page: {self.live.start()}", flush=True)


def _run_work(
    plan: Plan,
    work: StageWork,
    stage: str,
    label: str,
    sweep_dir: Path,
    tables: ResultTables,
    side: _RaySide,
) -> None:
    """Record the planned rows of `work` and run it under one Tuner (a stage, or one budget
    of an adaptive compute stage)."""
    for point in work.todo:
        tables.trial_planned(point)
    tables.flush()
    print(
        f"[{label}] {work.remaining} trials to run, {work.done} already done -> {sweep_dir}",
        flush=True,
    )
    if not work.remaining:
        return
    side.start(sweep_dir)
    attempt = len(list((sweep_dir / "tune").glob(f"{stage}-attempt-*"))) + 1
    try:
        run_stage(
            plan,
            work.todo,
            work.remaining,
            sweep_dir,
            tables,
            side.available,
            attempt,
            stage,
            side.live,
        )
    except KeyboardInterrupt:  # a second Ctrl-C: abort, rows say what happened
        tables.interrupt_running()
        if side.live is not None:
            side.live.close(wait=False)
        raise


def _plan_stage(stage: Stage, stages: list[Stage], tables: ResultTables, sweep_dir: Path) -> Plan:
    """A stage's trials; a later stage's depend on what its upstream (an earlier stage, or a
    finished sweep folder) finished."""
    if stage.source is None:
        return make_plan(stage.spec)
    return linked_plan(stage, stages, list(tables.trials.values()), sweep_dir)
