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
    status = run_sweep(plan, LaunchOptions(storage="/tmp/results"))   # 0 unless all failed
    status = run_pipeline(load_pipeline("sweeps/pipeline.yaml"), LaunchOptions(storage="/tmp/r"))
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

from contract.results import FAILED, STATUS
from sweeps.folder.remaining import StageWork, stage_work
from sweeps.folder.sweep_dir import SweepLock, open_sweep_dir
from sweeps.folder.tables import ResultTables
from sweeps.plan.recentre import stage_rounds
from sweeps.plan.resources import max_concurrent
from sweeps.plan.trials import Plan, largest_first, make_plan
from sweeps.spec.space import to_tune
from sweeps.spec.sweep_spec import SweepSpec
from sweeps.stages.pipeline import PipelineSpec, Stage, finish_stage, linked_plan
from sweeps.tune.events import (
    InterruptStopper,
    TableEvents,
    TailEvents,
    make_scheduler,
    optuna_search,
)
from sweeps.tune.interrupt import INTERRUPT
from sweeps.tune.ray_cluster import check_address, connect, end_leftover_ray
from sweeps.tune.tail_threads import TailThreads
from sweeps.tune.trackers import tracker_callbacks
from sweeps.tune.trainable import PLANNED, TRAINABLE, point_of, swept_columns, trial_payload
from sweeps.watch.progress import Progress
from sweeps.watch.server import LiveView

__all__ = [
    "TRAINABLE",
    "Job",
    "LaunchOptions",
    "StageRun",
    "run_job",
    "run_pipeline",
    "run_stage",
    "run_sweep",
]

TUNE_ENVIRONMENT = {
    # A trial that fails before its first evaluation ends without the metric; that is a
    # recorded failure, not a reason for Tune to abort the whole sweep.
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    # The loggers are chosen in sweeps.tune.trackers: Tune's JSON logger (what Ray's own
    # readers of an experiment need) and the trackers the spec asks for; Tune's automatic CSV
    # logger would only repeat curves.csv.
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # Ctrl-C and SIGTERM are the sweep's (sweeps.tune.interrupt): Tune's own SIGINT handler
    # would end the run with every running row left RUNNING and exit 0.
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    # The sweep prints its own progress (sweeps.watch.progress); Tune's new console output
    # would add its config box and a results pointer whatever `verbose` says.
    "RAY_AIR_NEW_OUTPUT": "0",
}
"""Process-wide Tune settings, set once per run when Ray is joined (Tune reads them from the
driver's environment; the trial processes, started before, never see them)."""

SweepIdentity = SweepSpec | PipelineSpec
"""What names a sweep folder and is fingerprinted in it: a plain sweep's spec or a pipeline's."""


@dataclass(frozen=True, kw_only=True)
class LaunchOptions:
    """Where and how a sweep runs: the command line over the spec's `run:` section."""

    storage: str
    """Results root: a path, or s3://... (run in a staging folder copied to the bucket)."""
    address: str | None = None
    """Ray cluster to join (auto, host:port, ray://...); None: $RAY_ADDRESS, else a local Ray."""
    resume: bool = False
    """Continue the sweep folder that exists (an error if there is none)."""
    force: bool = False
    """Continue a sweep folder even though its spec changed."""
    retry_failed: bool = False
    """Run failed trials again."""
    view: bool = False
    """Serve the live scaling page (sweeps.watch.server) and write its offline copy."""


@dataclass(frozen=True)
class Job:
    """What one run of `sweeps.run` runs: the folder's identity and its stages in order. A
    plain sweep is a one-stage job whose plan is known before Ray starts."""

    identity: SweepIdentity
    stages: tuple[Stage, ...]
    plans: Mapping[str, Plan] = field(default_factory=dict)
    """Plans made before the run, by stage name; the others are made when their turn comes."""

    @classmethod
    def of_sweep(cls, plan: Plan) -> Job:
        return cls(plan.spec, (Stage("main", plan.spec, None),), {"main": plan})

    @classmethod
    def of_pipeline(cls, pipeline: PipelineSpec) -> Job:
        return cls(pipeline, tuple(pipeline.stages))

    @property
    def name(self) -> str:
        return self.identity.name

    def label(self, stage: Stage) -> str:
        """How progress lines name a stage: the sweep, and the stage when there are several."""
        return self.name + (f" / {stage.name}" if len(self.stages) > 1 else "")


@dataclass(frozen=True)
class StageRun:
    """One Tuner's worth of work: a stage (or one budget of an adaptive compute stage)."""

    plan: Plan
    work: StageWork
    """The planned trials to run (`todo`), or how many Optuna may propose (`remaining`)."""
    stage: str
    sweep_dir: Path
    tables: ResultTables
    available: dict[str, float]
    """What the cluster has (Ray's resource names to amounts): bounds concurrent trials."""
    attempt: int
    """This stage's Tune experiment is `<stage>-attempt-<attempt>` under <sweep>/tune."""
    view: LiveView | None = None


def run_sweep(plan: Plan, options: LaunchOptions) -> int:
    """Run what is left of a one-stage sweep in <storage>/<name>/; returns the exit status."""
    return run_job(Job.of_sweep(plan), options)


def run_pipeline(pipeline: PipelineSpec, options: LaunchOptions) -> int:
    """Run the stages in order in one sweep folder; finished stages and trials are skipped."""
    return run_job(Job.of_pipeline(pipeline), options)


def run_job(job: Job, options: LaunchOptions) -> int:
    """Run `job` in <storage>/<name>/ under the folder's lock; returns the exit status: 0
    unless every trial failed, 130/143 when stopped by Ctrl-C/SIGTERM."""
    from sweeps.folder.bucket import staged

    with staged(options.storage, job.name) as root:
        check_address(options.address)
        side = _RaySide(options.address, options.view)
        with INTERRUPT, SweepLock(Path(root) / job.name):  # lock before any write
            sweep_dir = open_sweep_dir(
                job.identity, root, resume=options.resume, force=options.force
            ).resolve()
            end_leftover_ray(sweep_dir)
            run = _Run(job, sweep_dir, side, options.retry_failed)
            tables, scored = run.stages()
            counts = tables.summary(all_stages=True)
            if side.live is not None:
                print(f"Scaling page: {side.live.close(wait=not INTERRUPT.requested)}", flush=True)
        return _last_words(job.name, counts, sweep_dir, tables, scored)


def _last_words(
    name: str, counts: dict[str, int], sweep_dir: Path, tables: ResultTables, scored: list[str]
) -> int:
    """Print how the run ended (and each scored forecast's ledger row); the exit status."""
    if INTERRUPT.requested:
        signame = signal.Signals(INTERRUPT.signum).name
        print(f"[{name}] stopped by {signame}: {counts}; tables in {sweep_dir}", flush=True)
        return INTERRUPT.exit_status
    print(f"[{name}] finished: {counts}; tables in {sweep_dir}", flush=True)
    for line in scored:
        print(f"ledger: {line}", flush=True)
    statuses = [row[STATUS] for row in tables.trials.values()]
    return 1 if statuses and all(status == FAILED for status in statuses) else 0


@dataclass
class _RaySide:
    """Ray and the live page, started once, by the first stage that has trials to run."""

    address: str | None
    view: bool
    available: dict[str, float] | None = None
    live: LiveView | None = None

    def start(self, sweep_dir: Path) -> dict[str, float]:
        """Join Ray (and set Tune's process-wide settings) once; what the cluster has."""
        if self.available is None:
            self.available = connect(self.address, sweep_dir=sweep_dir)
            os.environ.update(TUNE_ENVIRONMENT)
        if self.view and self.live is None:
            self.live = LiveView(sweep_dir)
            print(f"Live page: {self.live.start()}", flush=True)
        return self.available


@dataclass(frozen=True)
class _Run:
    """The stages of one job in its opened sweep folder."""

    job: Job
    sweep_dir: Path
    side: _RaySide
    retry_failed: bool

    def stages(self) -> tuple[ResultTables, list[str]]:
        """Run every stage in order until done or interrupted; the last stage's tables (which
        hold every stage's rows) and the ledger lines of scored forecasts."""
        scored: list[str] = []  # ledger rows, repeated as the last lines
        tables = None
        for stage in self.job.stages:
            tables = self.stage(stage)
            if INTERRUPT.requested:
                tables.interrupt_running()
                break
            scored += finish_stage(stage, self.sweep_dir)  # a forecast stage scores its run
        assert tables is not None, "a job has at least one stage"
        return tables, scored

    def stage(self, stage: Stage) -> ResultTables:
        """Plan the stage (now, if it depends on what ran before) and run its rounds."""
        search = stage.spec.search
        tables = ResultTables(self.sweep_dir, search.metric, search.mode, stage=stage.name)
        plan = self.job.plans.get(stage.name) or _plan_stage(
            stage, list(self.job.stages), tables, self.sweep_dir
        )
        rounds = stage_rounds(plan, tables, self.sweep_dir, stage.name, self.job.identity)
        for part in rounds:
            work = stage_work(part, tables.trials, stage.name, self.retry_failed)
            self.work(part, work, stage, tables)
            if INTERRUPT.requested:
                break
        return tables

    def work(self, plan: Plan, work: StageWork, stage: Stage, tables: ResultTables) -> None:
        """Record the planned rows of `work` and run it under one Tuner."""
        for point in work.todo:
            tables.trial_planned(point)
        tables.flush()
        print(
            f"[{self.job.label(stage)}] {work.remaining} trials to run, {work.done} already "
            f"done -> {self.sweep_dir}",
            flush=True,
        )
        if not work.remaining:
            return
        available = self.side.start(self.sweep_dir)
        tune_dir = self.sweep_dir / "tune"
        attempt = len(list(tune_dir.glob(f"{stage.name}-attempt-*"))) + 1
        run = StageRun(
            plan=plan,
            work=work,
            stage=stage.name,
            sweep_dir=self.sweep_dir,
            tables=tables,
            available=available,
            attempt=attempt,
            view=self.side.live,
        )
        try:
            run_stage(run)
        except KeyboardInterrupt:  # a second Ctrl-C: abort, rows say what happened
            tables.interrupt_running()
            if self.side.live is not None:
                self.side.live.close(wait=False)
            raise


def _plan_stage(stage: Stage, stages: list[Stage], tables: ResultTables, sweep_dir: Path) -> Plan:
    """A stage's trials; a later stage's depend on what its upstream (an earlier stage, or a
    finished sweep folder) finished."""
    if stage.source is None:
        return make_plan(stage.spec)
    return linked_plan(stage, stages, list(tables.trials.values()), sweep_dir)


def run_stage(run: StageRun) -> None:
    """Run the trials of one stage under one Tuner: the planned ones (`run.work.todo`), or
    `run.work.remaining` trials chosen by Optuna."""
    param_space, tune_config = _param_space(run), _tune_config(run)
    progress = _progress(run)
    tuner = tune.Tuner(
        TRAINABLE,
        param_space=param_space,
        tune_config=tune_config,
        run_config=tune.RunConfig(
            name=f"{run.stage}-attempt-{run.attempt}",
            storage_path=str((run.sweep_dir / "tune").resolve()),
            failure_config=tune.FailureConfig(max_failures=run.plan.spec.run.max_failures),
            callbacks=[
                TableEvents(run.tables, progress, run.view),
                TailEvents(TailThreads.of_stage(run, tune_config.max_concurrent_trials)),
                *tracker_callbacks(run.plan.spec.logging, run.sweep_dir, run.plan.spec.name),
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


def _param_space(run: StageRun) -> dict[str, Any]:
    """What Tune varies: the planned trials as one grid, or the spec's axes for Optuna."""
    common: dict[str, Any] = {"sweep_dir": str(run.sweep_dir)}
    if run.plan.adaptive:
        return {**common, "spec": run.plan.spec.to_dict(), **to_tune(run.plan.spec.axes)}
    PLANNED.update({t.trial_id: t for t in run.work.todo})
    # Tune starts grid points in order: largest planned compute first, so the longest trial
    # does not run alone at the end while the other slots idle.
    ordered = largest_first(run.work.todo)
    return {
        **common,
        "trial": tune.grid_search([trial_payload(t) for t in ordered]),
        **swept_columns(ordered),
    }


def _tune_config(run: StageRun) -> tune.TuneConfig:
    """The searcher (Optuna for an adaptive search, else the grid), scheduler and limits."""
    plan, spec = run.plan, run.plan.spec
    searcher = None
    if plan.adaptive:
        searcher = optuna_search(spec, run.tables, run.sweep_dir, run.attempt, run.stage)
    return tune.TuneConfig(
        search_alg=searcher,
        scheduler=make_scheduler(plan),
        num_samples=run.work.remaining if plan.adaptive else 1,
        max_concurrent_trials=_concurrency(plan, run.available),
        # A reused trial process skips a Ray worker start and the torch import. But a trial
        # that the scheduler stops early must take its process with it when it owns a worker
        # group: a reused actor would keep the group's controller and placement group alive.
        # Trials that always run to the end can reuse either way.
        reuse_actors=spec.search.scheduler.type == "fifo"
        or not any(t.resources.uses_worker_group for t in plan.trials),
        trial_name_creator=lambda t: point_of(t).dirname,
        trial_dirname_creator=lambda t: point_of(t).dirname,
    )


def _concurrency(plan: Plan, available: dict[str, float]) -> int | None:
    """How many trials may run at once: the spec's number, or from what the cluster has."""
    limit = plan.spec.resources.max_concurrent_trials
    if limit != "auto":
        return limit
    needs = [t.resources for t in plan.trials]
    if plan.adaptive or any(r.uses_worker_group for r in needs):
        return max_concurrent(available, needs)
    # Tune reserves everything a single-worker trial uses, so its own admission is safe, and
    # pending trials are what an autoscaling cluster scales up for.
    return None


def _progress(run: StageRun) -> Progress:
    """The progress line's state, with what this run will train for the ETA: the planned
    trials left, or Optuna's remaining samples at the mean planned size of the sweep's points."""
    plan, work = run.plan, run.work
    total = plan.spec.search.num_samples if plan.adaptive else len(plan.trials)
    trials = work.todo or plan.trials
    share = 1.0 if work.todo else work.remaining / len(trials) if trials else 0.0
    planned = share * sum(t.flops for t in trials) if trials else None
    tokens = share * sum(t.tokens for t in trials) if trials else None
    return Progress(plan.spec.name, total, planned_flops=planned, planned_tokens=tokens)
