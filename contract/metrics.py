"""Standard metric names every trial reports, whatever its trainer.

Schedulers, result tables and the analysis read these keys, so no code downstream of a
trainer needs to know which task produced a row. Import the constants; never spell the
strings out elsewhere.

    from contract.metrics import EVAL_LOSS, TOKENS
    reporter.report({TOKENS: 4096, EVAL_LOSS: 2.31})
"""

from __future__ import annotations

STEP = "step"
"""Optimizer steps taken so far."""
TOKENS = "tokens"
"""Data seen so far: tokens for text tasks, samples or env steps otherwise."""
PARAMS = "params"
"""Non-embedding parameter count (the N of scaling laws)."""
PARAMS_TOTAL = "params_total"
"""All parameters, embeddings included."""
FLOPS = "flops"
"""Cumulative training FLOPs: 3 x forward FLOPs per token x tokens."""
TRAIN_LOSS = "train/loss"
EVAL_LOSS = "eval/loss"
LR = "lr"
TRAIN_TIME_S = "time/train_s"
"""Seconds spent inside the training loop (excludes trial start-up)."""
TOKENS_PER_S = "throughput/tokens_per_s"
FLOPS_PER_S = "throughput/flops_per_s"
"""Training FLOPs (the one definition, contract.compute) per second of training since the
previous report."""
MFU = "throughput/mfu"
"""Model FLOPs utilisation: FLOPS_PER_S over the peak of the hardware the trial was given (its
threads' measured matmul rate on a CPU, the table's dense peak on a GPU)."""
EPISODE_RETURN = "env/episode_return_mean"
"""Mean episode return of RL trials (mode max)."""
EVAL_ACCURACY = "eval/accuracy"
DONE = "trial/finished"
"""1.0 on the report that ends a trial's full budget (Tune's own `done` means any end)."""
THREADS = "trial/threads"
"""Intra-op CPU threads the trial trained with when it reported: its reservation, or more while
cores sat idle at its sweep's tail (resources.tail_threads)."""

STANDARD_METRICS: tuple[str, ...] = (
    STEP,
    TOKENS,
    PARAMS,
    PARAMS_TOTAL,
    FLOPS,
    TRAIN_LOSS,
    EVAL_LOSS,
    LR,
    TRAIN_TIME_S,
    TOKENS_PER_S,
)

THROUGHPUT_METRICS: tuple[str, ...] = (FLOPS_PER_S, MFU)
"""How close to the machine's speed a trial trains; every trainer built on the shared loop
reports them, and the trials table keeps the last report's values."""

# Scaling-law points of a run besides its end: a wsd run's cooldown branches (optim.cooldowns).
# A report that carries them is still an ordinary report of the trial (its own step, tokens,
# eval/loss); the branch/* keys describe the point the branch reached, which the trial's row
# id (trial_id, the contract's RUN_ID for points) ties to its run.
BRANCH_FRACTION = "branch/fraction"
"""Fraction (0-1] of the trial's token budget where the point lies; 1.0 is the run's end."""
BRANCH_STEP = "branch/step"
"""Optimizer steps behind the point: the stable steps it forked after plus its own decay."""
BRANCH_TOKENS = "branch/tokens"
"""Tokens behind the point (its D): the stable tokens plus the branch's own."""
BRANCH_FLOPS = "branch/flops"
"""Training FLOPs behind the point (its C): 3 x forward FLOPs per token x branch/tokens, what
a separate run to the same D costs. The trial's `flops` counts every branch on top."""
BRANCH_EVAL_LOSS = "branch/eval/loss"
"""Held-out loss at the end of the branch's decay."""

POINT_METRICS: tuple[str, ...] = (
    BRANCH_FRACTION,
    BRANCH_STEP,
    BRANCH_TOKENS,
    BRANCH_FLOPS,
    BRANCH_EVAL_LOSS,
)
"""Keys of a report that is also a scaling-law point of its run (absent on other reports)."""


def branch_metric(metric: str) -> str:
    """The key of a branch's value of an evaluation `metric` (e.g. eval/accuracy)."""
    return f"branch/{metric}"
