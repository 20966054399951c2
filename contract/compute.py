"""The one definition of training compute, shared by the planner, every trainer, the tables'
`flops` column and every law, allocation and plot of the analysis.

Training FLOPs = 3 x forward FLOPs per token x tokens: the backward pass costs about twice the
forward. Forward FLOPs per token come from a model's analytic count (attention and output layer
included), so at small sizes C is well above 6ND. `6ND` appears only as a labelled
approximation, for external tables that have N and D but no FLOPs.

    from contract.compute import training_flops, tokens_for_budget
    training_flops(forward_flops_per_token=86_336, tokens=1e6)  # 2.59e11
    tokens_for_budget(2.59e11, forward_flops_per_token=86_336)  # 1e6
"""

from __future__ import annotations

TRAIN_FLOPS_PER_FORWARD_FLOP = 3
"""Training FLOPs per forward FLOP: forward once, backward (input and weight grads) twice."""
APPROX_FLOPS_PER_PARAM_TOKEN = 6
"""The 6ND approximation (2 forward FLOPs per parameter, x3). Only for tables without FLOPs."""


def training_flops(forward_flops_per_token: float, tokens: float) -> float:
    """Training FLOPs for `tokens` tokens (samples, env steps) seen by a model whose forward
    pass costs `forward_flops_per_token`."""
    if tokens < 0:
        raise ValueError(f"tokens must be >= 0, got {tokens}")
    return float(TRAIN_FLOPS_PER_FORWARD_FLOP * forward_flops_per_token * tokens)


def tokens_for_budget(budget_flops: float, forward_flops_per_token: float) -> float:
    """Tokens a model can train on within `budget_flops` (the inverse of `training_flops`)."""
    if forward_flops_per_token <= 0:
        raise ValueError(f"forward_flops_per_token must be > 0, got {forward_flops_per_token}")
    return budget_flops / (TRAIN_FLOPS_PER_FORWARD_FLOP * forward_flops_per_token)


def approx_training_flops(params: float, tokens: float) -> float:
    """C ~ 6ND: a labelled approximation for external tables that record no FLOPs."""
    return float(APPROX_FLOPS_PER_PARAM_TOKEN * params * tokens)
