"""Ray Tune logger callbacks for a sweep: Tune's JSON logger always, trackers on request.

The JSON logger writes each trial's result.json and params.json in its Tune folder, which is
what `ray.tune.ExperimentAnalysis` and `Tuner.restore(...).get_results()` read; the trackers
of the `logging:` section (sweeps.spec.tracker_spec) are Ray's own TensorBoard, W&B and MLflow
callbacks. Called only by sweeps.tune.runner, the module that runs Tune.

    callbacks = tracker_callbacks(spec.logging, sweep_dir, spec.name)
    tune.RunConfig(callbacks=[tables_callback, *callbacks])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ray.tune.logger import JsonLoggerCallback, TBXLoggerCallback

from sweeps.spec.tracker_spec import LoggingConfig, MlflowConfig, local_store_path

DROPPED_KEYS = ("config",)
"""Tune copies the whole trial config into every result; params.json holds it once."""


class SweepJsonLogger(JsonLoggerCallback):
    """Tune's JSON logger without the trial config repeated on every line of result.json:
    Ray's readers take the config from params.json and the experiment state, and the copy
    would make the driver serialise the resolved config on every report."""

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        lean = {k: v for k, v in result.items() if k not in DROPPED_KEYS}
        super().log_trial_result(iteration, trial, lean)


def mlflow_uri(config: MlflowConfig, sweep_dir: Path) -> str:
    """The tracking URI: a relative `file:` path taken inside the sweep folder, an absolute one
    as given (`file:/abs` and `file:///abs` alike)."""
    path = local_store_path(config.tracking_uri)
    if path is None:  # a tracking server
        return config.tracking_uri
    return (Path(sweep_dir) / path).resolve().as_uri()  # an absolute path stays as given


WANDB_FLUSH_TIMEOUT_S = 30.0
"""Longest the driver waits for a finished trial's W&B run to be written (about 0.2 s
measured for a short run on a loaded 2-core machine)."""


def _wandb_callback(online: bool) -> type:
    """Ray's W&B callback; offline, without its demand for an API key: offline runs write
    folders that `wandb sync` uploads later with the key of whoever syncs them."""
    from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

    class FlushingActor(_WandbLoggingActor):
        """Ray's per-trial W&B actor, which Ray kills once its run finished: W&B's service
        writes the run file at teardown, so without it an offline run folder stays empty."""

        def run(self) -> None:
            super().run()
            self._wandb.teardown()

    class SweepWandbLoggerCallback(WandbLoggerCallback):
        _logger_actor_cls = FlushingActor

        def log_trial_end(self, trial: Any, failed: bool = False) -> None:
            """Wait (briefly) for the trial's run to be written before Ray may kill its
            actor: the last trial's run was otherwise lost at the end of the sweep."""
            import ray

            future = self._trial_logging_futures.get(trial)
            super().log_trial_end(trial, failed)
            if future is not None:
                ray.wait([future], timeout=WANDB_FLUSH_TIMEOUT_S)
                self._cleanup_logging_actors()

        def setup(self, *args: Any, **kwargs: Any) -> None:
            if online:
                super().setup(*args, **kwargs)
            else:
                self.api_key_file = None  # read by Ray's logging actors; no key is needed

    return SweepWandbLoggerCallback


def tracker_callbacks(logging: LoggingConfig, sweep_dir: Path, name: str) -> list[Any]:
    """Tune callbacks writing every trial's reports and config where the user asked."""
    callbacks: list[Any] = [SweepJsonLogger()]
    if logging.tensorboard:
        callbacks.append(TBXLoggerCallback())
    if logging.wandb is not None:
        wandb = logging.wandb
        os.environ.setdefault("WANDB_SILENT", "true")  # one line per trial is Tune's to print
        kwargs: dict[str, Any] = {"mode": wandb.mode, "group": name}
        if wandb.entity:
            kwargs["entity"] = wandb.entity
        callbacks.append(_wandb_callback(wandb.mode == "online")(project=wandb.project, **kwargs))
    if logging.mlflow is not None:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        mlflow = logging.mlflow
        uri = mlflow_uri(mlflow, sweep_dir)
        if uri.startswith("file:"):
            # MLflow 3 refuses its file store unless told the user chose it; a `file:` URI
            # in the spec is that choice (a folder that travels with the sweep).
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        callbacks.append(
            MLflowLoggerCallback(
                tracking_uri=uri,
                experiment_name=mlflow.experiment_name or name,
            )
        )
    return callbacks
