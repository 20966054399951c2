"""Run a trainer's plain loop under Ray Train: the one module that calls `ray.train`.

Single-worker trials use Train's local mode (`ScalingConfig(num_workers=0)`): the loop runs in
the calling (Tune trial) process, so a trial costs no controller or worker-group start-up, and
reports go to the `report` callable given (Tune's), because local mode keeps only the last
`ray.train.report`. Multi-worker trials get a real worker group (DDP: gloo on CPU, NCCL on
GPU); every rank reports through `ray.train.report` and the caller's callbacks forward rank
0's metrics to Tune.

    fit_trial(cfg, resources, trial_dir, run_name="train-trial_id=3f9a0c21d4",
              report=tune.report, make_callbacks=lambda: [TuneReportCallback()])
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
import ray.train
from ray.train import ScalingConfig
from ray.train.torch import TorchTrainer

from contract.results import trial_checkpoints
from trainers import get_trainer
from trainers.checkpoint import load_state, resume_folder
from trainers.config import TrialConfig
from trainers.reporter import Context
from trainers.threads import THREADS_FILE

PLACEMENT_GROUP_FILE = "placement_group.id"
"""The worker group's placement group, recorded so the runner can release it."""
REPORT_FILE = "report.json"
"""The metrics reported with a checkpoint, kept in its folder: a resumed trial reports them
again, so a point whose report died with the driver still reaches the curves."""


class TrialReporter:
    """Reporter for one trial: metrics to `report` (local mode) or `ray.train.report`.

    Checkpoints live in the trial folder (a shared file system on clusters), so resuming
    needs no checkpoint transfer through Ray: the latest one is simply the folder on disk.
    A resumed trial first reports again what was reported with its checkpoint (the result
    tables drop a step they already hold), so no point is lost when the driver died between
    the checkpoint and the report.
    """

    def __init__(self, trial_dir: Path, report: Callable[[dict[str, Any]], None] | None) -> None:
        self.trial_dir, self._report = trial_dir, report

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        if checkpoint_dir is not None:
            _write_json(Path(checkpoint_dir) / REPORT_FILE, metrics)
        if self._report is not None:
            self._report(dict(metrics))
        else:
            ray.train.report(dict(metrics))

    def latest_checkpoint(self) -> str | None:
        """The checkpoint to resume from (a damaged `latest` falls back to `previous`)."""
        folder = resume_folder(trial_checkpoints(self.trial_dir))
        if folder is None:
            return None
        metrics = _checkpoint_metrics(folder)
        if metrics:
            self.report(metrics)
        return str(folder)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, default=float))
    os.replace(tmp, path)


def _checkpoint_metrics(folder: Path) -> dict[str, Any] | None:
    """What was reported with a checkpoint: its report.json, else the state's own copy."""
    path = folder / REPORT_FILE
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    metrics = load_state(folder).get("metrics")
    return dict(metrics) if isinstance(metrics, dict) and metrics else None


def _rank_and_world() -> tuple[int, int]:
    train_ctx = ray.train.get_context()
    return train_ctx.get_world_rank(), train_ctx.get_world_size()


def _train_loop(config: dict[str, Any]) -> None:
    """Runs on every Train worker (or in the trial process in local mode)."""
    cfg = TrialConfig.model_validate(config["trial_config"])
    trial_dir = Path(config["trial_dir"])
    local = config.get("report") is not None
    # In local mode the loop runs inside the Tune trial, where ray.train's context API refuses
    # to answer; there is exactly one worker then.
    rank, world_size = (0, 1) if local else _rank_and_world()
    wrap = ray.train.torch.prepare_model if world_size > 1 else None
    ctx = Context(
        rank=rank,
        world_size=world_size,
        # Train assigns each GPU worker its device; ask it rather than guess cuda:0.
        device=config["device"] if local else str(ray.train.torch.get_device()),
        num_threads=config["num_threads"],
        trial_dir=str(trial_dir),
        # A trial alone in its process may grow into cores idle at its sweep's tail.
        threads_file=trial_dir / THREADS_FILE if local else None,
        **({"wrap_model": wrap} if wrap else {}),
    )
    if not local:  # where each worker ran, for placement checks and debugging
        node = ray.get_runtime_context().get_node_id()
        (trial_dir / f"worker-{rank}.node").write_text(node)
        group = ray.util.get_current_placement_group()
        if rank == 0 and group is not None:
            (trial_dir / PLACEMENT_GROUP_FILE).write_text(group.id.hex())
    get_trainer(cfg.task.type)(cfg, TrialReporter(trial_dir, config.get("report")), ctx)


def fit_trial(
    cfg: TrialConfig,
    resources: Any,
    trial_dir: Path,
    run_name: str,
    report: Callable[[dict[str, Any]], None],
    make_callbacks: Callable[[], list[Any]],
) -> None:
    """Train one trial through `TorchTrainer`; raises what the loop raised.

    `make_callbacks` is called only for a worker group: Tune's `TuneReportCallback` creates a
    queue actor in the trial's session when built, and that session then polls it on every
    result, so building it for a local-mode trial would start an extra Ray worker process per
    trial and add a remote call to every report.
    """
    local = not resources.uses_worker_group
    if local:
        scaling = ScalingConfig(num_workers=0)
        device = "auto"
    else:
        use_gpu = resources.gpus_per_worker > 0
        scaling = ScalingConfig(
            num_workers=resources.workers,
            use_gpu=use_gpu,
            resources_per_worker=resources.worker_bundle(),
        )
        device = "auto" if use_gpu else "cpu"
    loop_config = {
        "trial_config": cfg.model_dump(mode="json"),
        "trial_dir": str(trial_dir),
        "num_threads": max(1, int(resources.cpus_per_worker)),
        "device": device,
        "report": report if local else None,
    }
    trainer = TorchTrainer(
        _train_loop,
        train_loop_config=loop_config,
        scaling_config=scaling,
        run_config=ray.train.RunConfig(
            name=run_name,
            storage_path=str((trial_dir / "ray_train").resolve()),
            callbacks=[] if local else make_callbacks(),
        ),
    )
    trainer.fit()


def release_worker_group(trial_dir: Path) -> bool:
    """Remove a trial's worker-group placement group if it outlived the trial.

    Train V2 removes it when a run ends normally, but a trial that Tune stops early (ASHA) or
    whose process dies takes the controller down with it, and the group's placement group,
    scoped to the whole job, would hold its CPUs/GPUs until the sweep ends (Ray issue
    54305). Returns True if a live group was removed.
    """
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    path = trial_dir / PLACEMENT_GROUP_FILE
    if not path.exists():
        return False
    group_id = path.read_text().strip()
    path.unlink(missing_ok=True)
    state = ray.util.placement_group_table().get(group_id, {}).get("state", "REMOVED")
    if state == "REMOVED":
        return False
    remove_placement_group(PlacementGroup(PlacementGroupID(bytes.fromhex(group_id))))
    return True
