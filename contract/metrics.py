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
EPISODE_RETURN = "env/episode_return_mean"
"""Mean episode return of RL trials (mode max)."""
EVAL_ACCURACY = "eval/accuracy"
DONE = "trial/finished"
"""1.0 on the report that ends a trial's full budget (Tune's own `done` means any end)."""

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
