"""The standard metrics of one report: counts, losses, learning rate, time and speed.

Every method reports the same names (contract.metrics) computed the same way, so a sweep's
tables and the analysis never ask which method trained a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from contract.metrics import (
    EVAL_LOSS,
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
from models import training_flops
from trainers.method import ModelCounts


@dataclass
class Segment:
    """The training since the last report: its train losses, first step and start time."""

    start_step: int
    loss_sum: float = 0.0
    loss_steps: int = 0
    started: float = field(default_factory=time.perf_counter)


def report_metrics(
    counts: ModelCounts,
    tokens_per_step: int,
    world_size: int,
    step: int,
    lr: float,
    segment: Segment,
    segment_s: float,
    peak_flops: float,
    spent_tokens: int,
    train_time_s: float,
    evaluation: dict[str, float],
) -> dict[str, float]:
    """The report at `step`: the standard metrics, then the evaluation's extra metrics.

    `spent_tokens` is every training token the trial paid for (cooldown branches included);
    the speed is the segment's own, against `peak_flops` per worker.
    """
    segment_tokens = (step - segment.start_step) * tokens_per_step
    segment_flops_per_s = training_flops(counts, segment_tokens) / max(segment_s, 1e-9)
    return {
        STEP: step,
        TOKENS: step * tokens_per_step,
        PARAMS: counts.params,
        PARAMS_TOTAL: counts.params_total,
        FLOPS: training_flops(counts, spent_tokens),
        TRAIN_LOSS: segment.loss_sum / segment.loss_steps,
        EVAL_LOSS: evaluation.pop(EVAL_LOSS),
        LR: lr,
        TRAIN_TIME_S: train_time_s,
        TOKENS_PER_S: segment_tokens / max(segment_s, 1e-9),
        FLOPS_PER_S: segment_flops_per_s,
        # Every worker trains at its own peak, so the job's is world_size times one.
        MFU: segment_flops_per_s / (peak_flops * world_size),
        **evaluation,
    }
