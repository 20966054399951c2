"""RLlib's nested training result mapped to the standard metric names every trial reports.

Data seen is env steps sampled (lifetime, so it survives a resume), the main metric is the
mean episode return, and compute is the one definition every trainer uses
(`contract.compute.training_flops`) with the policy's forward FLOPs per env step
(`RLTrialConfig.flops_per_token`, 2 per parameter). It deliberately ignores how often the
algorithm reuses a sample (PPO's epochs, DQN's replay ratio) and the sampling forward pass, so
RL runs sit on the same data axis as the other trainers. FLOP/s and MFU follow from the same
count: training FLOPs per second of env steps, over the peak of what the trial was given.

    metrics = standard_metrics(result, step=3, params=34_691, flops_per_step=69_382,
                               train_time_s=12.5, tokens_per_s=900, peak_flops_per_s=9e10)
    metrics[TOKENS], metrics[EPISODE_RETURN]
    check_finite(metrics, lr=1e-3)   # TrialDiverged on a NaN loss or return
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from contract.compute import training_flops
from contract.metrics import (
    EPISODE_RETURN,
    FLOPS,
    FLOPS_PER_S,
    LR,
    MFU,
    PARAMS,
    PARAMS_TOTAL,
    STEP,
    TOKENS,
    TOKENS_PER_S,
    TRAIN_LOSS,
    TRAIN_TIME_S,
)
from trainers.reporter import TrialDiverged

DEFAULT_MODULE = "default_policy"
"""RLlib's module id of the single policy in single-agent training."""


def env_steps(result: Mapping[str, Any]) -> float:
    """Env steps sampled over the algorithm's lifetime (restored with its checkpoint)."""
    runners = result.get("env_runners", {})
    return float(runners.get("num_env_steps_sampled_lifetime", 0.0))


def episode_return(result: Mapping[str, Any]) -> float | None:
    """Mean return of RLlib's recent-episode window (100 episodes); None before the first
    episode has finished."""
    value = result.get("env_runners", {}).get("episode_return_mean")
    return None if value is None else float(value)


def _learner_value(result: Mapping[str, Any], key: str) -> float | None:
    value = result.get("learners", {}).get(DEFAULT_MODULE, {}).get(key)
    return None if value is None else float(value)


def standard_metrics(
    result: Mapping[str, Any],
    *,
    step: int,
    params: int,
    flops_per_step: float,
    train_time_s: float,
    tokens_per_s: float,
    peak_flops_per_s: float | None = None,
) -> dict[str, float]:
    """The standard metrics of one training iteration's `result`.

    `params` is the analytic count of the trained network (no embeddings, so it is also
    params_total); `train_time_s` and `tokens_per_s` come from the trial loop's own clock.
    Keys whose value RLlib has not produced yet (no finished episode, no SGD step) are left out;
    so are FLOP/s and MFU without `peak_flops_per_s`, the peak of the trial's hardware.
    """
    tokens = env_steps(result)
    metrics: dict[str, float] = {
        STEP: float(step),
        TOKENS: tokens,
        PARAMS: float(params),
        PARAMS_TOTAL: float(params),
        FLOPS: training_flops(flops_per_step, tokens),
        TRAIN_TIME_S: train_time_s,
        TOKENS_PER_S: tokens_per_s,
    }
    optional = {
        EPISODE_RETURN: episode_return(result),
        TRAIN_LOSS: _learner_value(result, "total_loss"),
        LR: _learner_value(result, "default_optimizer_learning_rate"),
    }
    if peak_flops_per_s is not None:
        optional[FLOPS_PER_S] = training_flops(flops_per_step, tokens_per_s)
        optional[MFU] = optional[FLOPS_PER_S] / peak_flops_per_s
    metrics.update({k: v for k, v in optional.items() if v is not None})
    return metrics


def check_finite(metrics: Mapping[str, float], lr: float) -> None:
    """Raise TrialDiverged if the learner loss or the episode return is NaN or infinite."""
    for key, what in ((TRAIN_LOSS, "learner loss"), (EPISODE_RETURN, "mean episode return")):
        value = metrics.get(key)
        if value is not None and not math.isfinite(value):
            raise TrialDiverged(
                f"rl: {what} became {value} at iteration {int(metrics[STEP])} "
                f"after {int(metrics[TOKENS])} env steps (lr={lr:g})"
            )
