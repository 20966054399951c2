"""Divergence checks of the train loss: NaN or inf ends a trial, naming the step it happened.

Checking every step would sync the device every step; the loop keeps the step losses on the
device and checks a window of them at once, and the step it names is still exact.

    pending.append(loss.detach())
    if len(pending) == DIVERGENCE_CHECK_STEPS:
        total = checked_sum(pending, step, cfg.optim, total_steps)   # raises TrialDiverged
"""

from __future__ import annotations

import math

import torch

from trainers.config import OptimConfig
from trainers.reporter import TrialDiverged

DIVERGENCE_CHECK_STEPS = 8
"""Steps between NaN/inf checks of the train loss; each check syncs the device once, and the
step it names is exact however many steps it looks back over."""


def first_nonfinite(pending: list[torch.Tensor]) -> tuple[int, float] | None:
    """Index and value of the first non-finite loss in `pending`, or None (one device sync)."""
    window = torch.stack(pending)
    finite = torch.isfinite(window)
    if bool(finite.all()):
        return None
    i = int((~finite).nonzero()[0, 0])
    return i, float(window[i])


def checked_sum(
    pending: list[torch.Tensor], step: int, optim: OptimConfig, total_steps: int
) -> float:
    """Sum of the losses of the `pending` steps ending at `step`; raises TrialDiverged naming
    the first non-finite one. One device sync for the whole window."""
    bad = first_nonfinite(pending)
    if bad is not None:
        bad_step = step - len(pending) + bad[0]
        kind = "nan" if math.isnan(bad[1]) else "inf"
        lr_bad = optim.lr_at(bad_step, total_steps)
        raise TrialDiverged(f"loss became {kind} at step {bad_step} (lr={lr_bad:.3g})")
    return float(torch.stack(pending).sum())
