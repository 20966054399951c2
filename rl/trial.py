"""The loop inside one RL trial: build the RLlib algorithm, train, report, checkpoint, stop.

`train` is a plain function of a typed config and a Reporter, so it runs inside a Tune function
trainable (the sweep runner) or in a bare process alike. `resources` is the placement-group
request the runner gives Tune for it: RLlib's own request for the same algorithm config.

    bundles = resources(cfg, num_cpus=2)     # [{"CPU": 1.0}, {"CPU": 1.0}]
    final = train(cfg, ListReporter(), num_cpus=2, trial_dir="runs/t0")
    final["env/episode_return_mean"], final["tokens"]
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from contract.metrics import DONE, EPISODE_RETURN, TOKENS, TRAIN_TIME_S
from contract.results import trial_checkpoints
from rl.algos import get_algo
from rl.config import RLTrialConfig
from rl.metrics import check_finite, env_steps, standard_metrics
from trainers.checkpoint import LATEST, load_state, save_state
from trainers.reporter import Reporter
from trainers.throughput import device_peak

"""Folder inside the trial folder holding `latest/`: state.pt (loop counters) + algorithm/."""
ALGORITHM = "algorithm"
"""Sub-folder of a checkpoint written by RLlib's `save_to_path`."""


def resources(cfg: RLTrialConfig, num_cpus: float) -> list[dict[str, float]]:
    """Placement-group bundles of one trial given `num_cpus` CPUs: the trial process (driver
    and local learner, plus learner GPUs) first, then one bundle per env runner."""
    entry = get_algo(cfg.task.algo)
    request = entry.algorithm_class.default_resource_request(entry.build(cfg, num_cpus))
    return [{k: float(v) for k, v in bundle.items()} for bundle in request.bundles]


def _save(algo: Algorithm, root: Path, step: int, train_time_s: float) -> str:
    """Write checkpoints/latest atomically enough that a crash keeps the previous one."""
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".latest-", dir=root))
    algo.save_to_path(str(staging / ALGORITHM))
    save_state(staging, {"step": step, "train_time_s": train_time_s})
    latest, old = root / LATEST, root / ".latest-old"
    shutil.rmtree(old, ignore_errors=True)
    if latest.exists():
        latest.rename(old)
    staging.rename(latest)
    shutil.rmtree(old, ignore_errors=True)
    return str(latest)


def check_own_checkpoint(checkpoint: str, root: Path) -> Path:
    """`checkpoint` resolved, if it lies inside the trial's own folder `root`.

    RLlib checkpoints are pickles, which run code when loaded: only those this trial wrote
    are ever loaded, never a path that leads elsewhere (a symlink, `..`)."""
    folder = Path(checkpoint).resolve()
    if not folder.is_relative_to(Path(root).resolve()):
        raise ValueError(
            f"refusing to load RL checkpoint {checkpoint}: RL checkpoints are pickles and are "
            f"loaded only from the trial's own folder {root}"
        )
    return folder


def _restore(algo: Algorithm, checkpoint: str | None, root: Path) -> tuple[int, float]:
    """Load `checkpoint` into `algo`; returns (iterations done, training seconds so far)."""
    if checkpoint is None:
        return 0, 0.0
    checkpoint = str(check_own_checkpoint(checkpoint, root))
    if not (Path(checkpoint) / ALGORITHM).is_dir():
        raise FileNotFoundError(f"checkpoint folder {checkpoint} has no {ALGORITHM}/ to resume")
    algo.restore_from_path(str(Path(checkpoint) / ALGORITHM))
    state = load_state(checkpoint)
    return int(state["step"]), float(state["train_time_s"])


def peak_flops_per_s(cfg: RLTrialConfig, num_cpus: float) -> float:
    """The peak an RL trial's MFU is measured against, as LM trials measure theirs: the
    learner's GPU when it has one (fp32, RLlib's learner precision), else the trial's CPUs
    (the cached matmul probe at that many threads)."""
    if cfg.task.num_learner_gpus > 0 and torch.cuda.is_available():
        return device_peak(torch.device("cuda"), "fp32", 1).flops_per_s
    return device_peak(torch.device("cpu"), "fp32", max(1, int(num_cpus))).flops_per_s


def _drop_empty_logdir(algo: Algorithm) -> None:
    # Every Algorithm is also a Tune Trainable and makes itself an (unused, here) log folder
    # under ~/ray_results; remove it so trials leave nothing outside their own folder.
    logdir = getattr(algo, "logdir", None)
    if logdir and os.path.isdir(logdir) and not os.listdir(logdir):
        os.rmdir(logdir)


def train(
    cfg: RLTrialConfig, reporter: Reporter, num_cpus: float, trial_dir: str | None = None
) -> dict[str, float]:
    """Train until `task.max_env_steps` env steps or `task.target_return`; returns the last report.

    Reports the standard metrics every iteration, writes `trial_dir/checkpoints/latest` every
    `task.checkpoint_interval_iters` iterations and at the end (passing it with that report),
    and resumes from `reporter.latest_checkpoint()` when there is one. A NaN or infinite loss
    or return raises TrialDiverged. Without `trial_dir`, checkpoints go to a temporary folder.
    """
    task = cfg.task
    entry = get_algo(task.algo)
    params = cfg.num_params
    config = entry.build(cfg, num_cpus)
    root = trial_checkpoints(Path(trial_dir or tempfile.mkdtemp(prefix="rl-trial-")))
    algo = config.build_algo()
    peak = peak_flops_per_s(cfg, num_cpus)
    try:
        step, time_before = _restore(algo, reporter.latest_checkpoint(), root.parent)
        # Lifetime count restored with the checkpoint: throughput is this process's own.
        tokens_before = float(
            algo.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        )
        started = time.perf_counter()
        while True:
            result = algo.train()
            step += 1
            elapsed = time.perf_counter() - started
            metrics = standard_metrics(
                result,
                step=step,
                params=params,
                flops_per_step=cfg.flops_per_token,
                train_time_s=time_before + elapsed,
                tokens_per_s=(env_steps(result) - tokens_before) / elapsed,
                peak_flops_per_s=peak,
            )
            check_finite(metrics, task.learning_rate)
            ret = metrics.get(EPISODE_RETURN)
            done = metrics[TOKENS] >= task.max_env_steps or (
                task.target_return is not None and ret is not None and ret >= task.target_return
            )
            checkpoint_dir = None
            if done or step % task.checkpoint_interval_iters == 0:
                checkpoint_dir = _save(algo, root, step, metrics[TRAIN_TIME_S])
            if done:
                metrics[DONE] = 1.0
            reporter.report(metrics, checkpoint_dir)
            if done:
                return metrics
    finally:
        algo.stop()
        _drop_empty_logdir(algo)
