"""Tune's events into the sweep: the result tables, the scheduler, the stop on Ctrl-C, and the
Optuna searcher with its study in the sweep folder.

    callbacks = [TableEvents(tables, progress, view)]
    tune.TuneConfig(scheduler=make_scheduler(plan), search_alg=optuna_search(...))
    tune.RunConfig(callbacks=callbacks, stop=InterruptStopper())
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

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
from sweeps.errors import describe_crash
from sweeps.folder.tables import TUNE_NODE_IP, ResultTables
from sweeps.plan.trials import Plan, TrialPoint
from sweeps.tune.interrupt import INTERRUPT
from sweeps.tune.tail_threads import TailThreads
from sweeps.tune.trainable import point_of
from sweeps.watch.progress import Progress
from sweeps.watch.server import LiveView


class TableEvents(tune.Callback):
    """Mirror Tune's trial events into the sweep's result tables and progress line."""

    def __init__(
        self, tables: ResultTables, progress: Progress, view: LiveView | None = None
    ) -> None:
        self.tables, self.progress, self.view = tables, progress, view
        self._started: set[str] = set()
        if view is not None:  # the page's progress bar and ETA are the terminal's
            view.follow(progress, tables)

    def on_trial_start(self, iteration, trials, trial, **info):
        point = point_of(trial)
        self.tables.trial_started(point)
        self.progress.update(self.tables, point)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        point = point_of(trial)
        self.tables.trial_reported(point.trial_id, result)
        if trial.trial_id not in self._started:  # its attempt is logged before it reports
            self._started.add(trial.trial_id)
            _say_fallback(point, _trial_dir(point, trial))

    def on_trial_complete(self, iteration, trials, trial, **info):
        point = point_of(trial)
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

    def on_trial_recover(self, iteration, trials, trial, **info):
        """Its process died and `run.max_failures` allows a retry: Tune starts it again (on any
        live node) and the trial resumes from the latest checkpoint in its folder."""
        point = point_of(trial)
        _release(trial, point)
        cause = _read_error(point, trial) or describe_crash(_tune_error_text(trial))
        self.tables.trial_retried(point.trial_id, cause)
        print(f"[{point.tag}] {cause}: started again from its latest checkpoint", flush=True)
        self.progress.update(self.tables)

    def on_trial_error(self, iteration, trials, trial, **info):
        point = point_of(trial)
        _release(trial, point)
        if INTERRUPT.requested:  # its process got the signal too: not a failure of its own
            self.tables.trial_ended(point.trial_id, INTERRUPTED)
        else:
            error = _read_error(point, trial) or describe_crash(_tune_error_text(trial))
            self.tables.trial_ended(point.trial_id, FAILED, error)
        self.progress.update(self.tables)


class TailEvents(tune.Callback):
    """Tune's trial events into the threads lent to the last trials (sweeps.tune.tail_threads)."""

    def __init__(self, tail: TailThreads) -> None:
        self.tail = tail

    def setup(self, **info):
        self.tail.clear()

    def on_trial_start(self, iteration, trials, trial, **info):
        self.tail.started(point_of(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.tail.reported(point_of(trial), result.get(TUNE_NODE_IP), result.get(TOKENS))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.tail.ended(point_of(trial))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.tail.ended(point_of(trial))

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.tail.recovered(point_of(trial))

    def on_experiment_end(self, trials, **info):
        self.tail.clear()


def _say_fallback(point: TrialPoint, trial_dir: Path) -> None:
    """Repeat in the driver's output what the trial's attempts.log says when it resumed from
    checkpoints/previous because checkpoints/latest was damaged (the worker's own line
    reaches only its log)."""
    try:
        last = (trial_dir / ATTEMPTS_FILE).read_text(encoding="utf-8").splitlines()[-1]
    except (OSError, IndexError):
        return
    if "resumed from checkpoints/previous" in last:
        print(f"[{point.tag}] {last.split(' ', 3)[-1]}", file=sys.stderr, flush=True)


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
        assignment = point_of(trial).assignment
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


def make_scheduler(plan: Plan) -> TrialScheduler:
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


class InterruptStopper(tune.Stopper):
    """Ends the whole Tune run once the sweep was asked to stop (sweeps.tune.interrupt)."""

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return INTERRUPT.requested


def _tune_error_text(trial: Any) -> str:
    """What Ray recorded about a trial whose process died: the last failure in the driver's own
    error file (written before the callbacks run; the storage copy `get_error` reads comes
    later, so it is missing when a retry is being decided), else Tune's stored error."""
    try:
        local = Path(trial.error_file) if trial.error_file else None
        if local is not None and local.is_file():
            return local.read_text(encoding="utf-8", errors="replace").split("Failure # ")[-1]
        return str(trial.get_error() or "")
    except Exception:  # the error file may be missing or unpicklable
        return ""


def optuna_search(
    spec: Any, tables: ResultTables, sweep_dir: Path, attempt: int, stage: str
) -> Any:
    """Ray's OptunaSearch over the spec's axes, its study kept in the sweep folder's journal.

    The journal is the study's history on a resume; a sweep folder without one (written
    before the journal existed) seeds the study from the result tables instead. A new seed per
    attempt keeps the sampler from re-proposing its first points."""
    from ray.tune.search.optuna import OptunaSearch

    from sweeps.tune import optuna_study as study

    search = spec.search
    objectives = search.objectives
    columns = [best_column(search.metric)] + search.more_metrics
    requeued = study.requeue_abandoned(sweep_dir, stage)
    if requeued:
        print(f"{requeued} Optuna trials a killed run left RUNNING are proposed again", flush=True)
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
