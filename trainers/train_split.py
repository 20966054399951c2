"""How big a trial's training split is: the one place the task schema meets the data on disk.

A task that trains on `data.dataset`'s corpus has as many training tokens as that corpus's
train split (tokenized once, then cached); a task that generates its data set (`task.
generated_samples`) has its split's samples times the model's sequence length (1 for models
without a sequence axis, so regression and diffusion count samples). `TrialConfig.train_size`
and so the planner and every trainer's step count go through here.

    train_size(TrialConfig(model=ModelSpec(size="gpt-50k")))          # tokens of the corpus
    train_size(TrialConfig(model=ModelSpec(size="mlp-1k"), task={"type": "regression"}))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from data.samples import split_samples
from data.splits import count_train_tokens

if TYPE_CHECKING:
    from trainers.config import TrialConfig


def train_size(cfg: TrialConfig) -> int:
    """Size of `cfg`'s training split in the unit `TrialConfig.num_steps` divides: tokens for
    lm, mlm and classify (sequences x seq_len), samples for regression and diffusion."""
    generated = cfg.task.generated_samples
    if generated is None:
        return count_train_tokens(cfg.data)
    return len(split_samples(generated, cfg.data).train) * cfg.seq_len
