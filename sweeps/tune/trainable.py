"""What a trial's process runs and what it carries: the Tune trainable of every trial.

A planned trial receives its resolved config and folder as plain data (`trial_payload`) and
validates it once where it runs; an Optuna trial carries the spec and its sampled assignment.
The driver keeps every planned point by trial id (`PLANNED`), so Tune's callbacks and the
scheduler look a trial up instead of rebuilding it (`point_of`).

    param_space = {"trial": tune.grid_search([trial_payload(t) for t in points])}
    tune.Tuner(TRAINABLE, param_space=param_space)   # each trial runs trial_main(config)
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback
from ray.tune.trainable import wrap_function

from contract.results import (
    ATTEMPTS_FILE,
    ERROR_FILE,
    TRIALS_DIR,
    TrialRecord,
    trial_checkpoints,
    write_trial_record,
)
from sweeps.plan.resources import WorkerResources
from sweeps.plan.trials import TrialPoint, make_trial
from sweeps.spec.sweep_spec import is_rl_trial, spec_from_dict, trial_config_class
from trainers.config import AnyTrialConfig

PAYLOAD_ID = "trial_id"
"""The key of a planned trial's id in its Tune payload (`trial_payload`). A payload key, not a
table column: Tune stores each trial's payload with its experiment and `Tuner.restore` reads it
back, so the key stays as written whatever trials.csv calls its id column."""

PLANNED: dict[str, TrialPoint] = {}
"""Planned trials of this driver by trial id: the callbacks and the scheduler look them up."""


_BY_TUNE_TRIAL: dict[str, TrialPoint] = {}


def trial_payload(point: TrialPoint) -> dict[str, Any]:
    """What a planned trial's process receives: its resolved config and identity as plain data
    (validated once, in that process), never the whole spec."""
    return {
        PAYLOAD_ID: point.trial_id,
        "dirname": point.dirname,
        "assignment": point.assignment,
        # Only what was set: validating defaults as if written would trip validators that
        # reject options the user never chose (the spec validates its trees the same way).
        "config": point.config.model_dump(mode="json", exclude_unset=True),
        "resources": point.resources.model_dump(mode="json"),
    }


def adaptive_point(config: dict[str, Any]) -> TrialPoint:
    """An Optuna trial: the spec and the sampled assignment, resolved where it runs."""
    spec = spec_from_dict(config["spec"], source="<sweep>")
    return make_trial(spec, {path: config[path] for path in spec.axes})


def swept_columns(points: list[TrialPoint]) -> dict[str, Any]:
    """Each swept value as a top-level config key named by its dotted path, resolved from the
    trial's payload, so Tune's dataframes, the trackers and the dashboard show `model.size`
    rather than a nested payload."""
    paths = sorted({path for point in points for path in point.assignment})
    return {
        path: tune.sample_from(lambda config, path=path: config["trial"]["assignment"].get(path))
        for path in paths
    }


def point_of(trial: Any) -> TrialPoint:
    """The TrialPoint of a Tune trial in the driver: planned trials by their id, Optuna's by
    Tune's trial id (resolved once; the callbacks and scheduler ask on every event)."""
    point = _BY_TUNE_TRIAL.get(trial.trial_id)
    if point is None:
        payload = trial.config.get("trial")
        point = PLANNED[payload[PAYLOAD_ID]] if payload else adaptive_point(trial.config)
        _BY_TUNE_TRIAL[trial.trial_id] = point
    return point


def trial_config(payload: dict[str, Any]) -> AnyTrialConfig:
    """A planned trial's config, validated once in its own process; its `task.type` says which
    kind it is, as it did for the spec."""
    return trial_config_class(payload["config"]).model_validate(payload["config"])


def _failure_text(err: BaseException) -> str:
    """The innermost error's own message: Ray wraps worker errors in several layers."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return f"{err.__class__.__name__}: {lines[-1] if lines else ''}".strip()


def _is_divergence(err: BaseException) -> bool:
    return "TrialDiverged" in repr(err) or "TrialDiverged" in str(err)


def trial_main(config: dict[str, Any]) -> None:
    """The Tune trainable of every trial: record its config, train, record why it failed."""
    payload = config.get("trial")
    if payload:
        trial_id, dirname = payload[PAYLOAD_ID], payload["dirname"]
        trial_cfg = trial_config(payload)
        resources = WorkerResources.model_validate(payload["resources"])
        assignment = payload.get("assignment", {})
    else:
        point = adaptive_point(config)
        trial_id, dirname, trial_cfg = point.trial_id, point.dirname, point.config
        resources, assignment = point.resources, point.assignment
    trial_dir = Path(config["sweep_dir"]) / TRIALS_DIR / dirname
    trial_dir.mkdir(parents=True, exist_ok=True)
    (trial_dir / ERROR_FILE).unlink(missing_ok=True)
    record = TrialRecord(
        trial_id=trial_id,
        assignment=assignment,
        config=trial_cfg.model_dump(mode="json"),
        resources=resources.model_dump(mode="json"),
    )
    write_trial_record(trial_dir, record)
    _log_attempt(trial_dir)
    try:
        if is_rl_trial(trial_cfg):
            from rl import train as rl_train
            from trainers.ray_worker import TrialReporter

            reporter = TrialReporter(trial_dir, tune.report)
            rl_train(trial_cfg, reporter, resources.cpus_per_worker, str(trial_dir))
        else:
            from trainers.ray_worker import fit_trial

            fit_trial(
                trial_cfg,
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
    from trainers.checkpoint import CheckpointError, resume_choice

    try:
        folder, note = resume_choice(trial_checkpoints(trial_dir))
    except CheckpointError as err:  # the trial itself reports it and fails
        folder, note = None, err.strerror
    start = "started fresh" if folder is None else f"resumed from checkpoints/{folder.name}"
    if note:
        start += f" ({note})"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    node = ray.get_runtime_context().get_node_id()
    with (trial_dir / ATTEMPTS_FILE).open("a", encoding="utf-8") as f:
        f.write(f"{stamp} pid={os.getpid()} node={node} {start}\n")


def _resources(config: dict[str, Any]) -> tune.PlacementGroupFactory:
    """What Tune reserves for a trial (asked in the driver, before the trial starts)."""
    payload = config.get("trial")
    point = PLANNED[payload[PAYLOAD_ID]] if payload else adaptive_point(config)
    if is_rl_trial(point.config):
        from rl import resources as rl_resources

        return tune.PlacementGroupFactory(
            rl_resources(point.config, point.resources.cpus_per_worker)
        )
    return tune.PlacementGroupFactory([point.resources.trial_bundle()])


class SweepTrial(wrap_function(trial_main)):
    """The trial process. Ray's dashboard lists it as SweepTrial named by its trial's folder
    (Ray takes an actor's name from its repr when the actor starts; a process reused for a
    later trial keeps the first one's name)."""

    def __repr__(self) -> str:
        config = getattr(self, "config", None) or {}
        try:
            payload = config.get("trial")
            return payload["dirname"] if payload else adaptive_point(config).dirname
        except Exception:  # never let a name break a trial
            return "SweepTrial"


TRAINABLE = tune.with_resources(SweepTrial, _resources)
"""The Tune trainable of every trial. Ray's API opens a finished sweep with it:
`tune.Tuner.restore(f"{sweep}/tune/main-attempt-1", trainable=TRAINABLE).get_results()`."""
# Ray names an actor's class by its qualified name, which with_resources leaves as
# "with_resources.<locals>.ResourceTrainable": the dashboard's and the state API's class column.
TRAINABLE.__qualname__ = SweepTrial.__qualname__
