"""Shared data handling of the methods that train on a generated set of samples (regression
rows, diffusion points, labelled sequences) rather than on a token stream.

The set is split by `data.split_samples` (data.holdout_fraction / fraction / sampling / seed,
as for tokens), the training part is sharded across workers, and batches are drawn uniformly
with replacement from the batch generator, so a resumed run sees the same batches.

    class MyMethod(SampleMethod):
        def __init__(self, cfg, ctx, device):
            super().__init__(cfg, ctx, device, tensors=(x, y))   # rows of x and y are samples
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from data import shard
from data.samples import split_samples
from trainers.config import TrialConfig
from trainers.method import Batch, Method, require_one_batch
from trainers.reporter import Context

EVAL_CHUNK = 4096
"""Samples per forward pass when evaluating (bounds evaluation memory)."""


class SampleMethod(Method):
    """A Method over aligned tensors whose first axis indexes samples.

    `tokens` counts samples times cfg.seq_len: samples for MLP tasks (seq_len 1), tokens for
    sequence tasks, so TrialConfig.num_steps and the reports agree with the token tasks.
    """

    def __init__(
        self,
        cfg: TrialConfig,
        ctx: Context,
        device: torch.device,
        tensors: tuple[torch.Tensor, ...],
    ) -> None:
        super().__init__(cfg, ctx, device)
        split = split_samples(len(tensors[0]), cfg.data)
        per_sample = cfg.seq_len
        self.train_size = len(split.train) * per_sample
        unit = "tokens" if per_sample > 1 else "samples"
        require_one_batch(self.train_size, cfg.tokens_per_step(ctx.world_size), unit)
        train_ids = shard(torch.from_numpy(split.train), ctx.rank, ctx.world_size)
        self.train = tuple(t[train_ids] for t in tensors)
        """This worker's training samples, on the CPU (batches move to the device)."""
        num_eval = max(1, cfg.trainer.eval_tokens // per_sample)
        eval_ids = torch.from_numpy(split.eval[:num_eval])
        self.eval = tuple(t[eval_ids].to(device) for t in tensors)
        """The held-out samples scored at every evaluation, on the device."""

    def sample_batch(self, generator: torch.Generator) -> Batch:
        """trainer.batch_size training samples drawn uniformly with replacement, on the device."""
        size = self.cfg.trainer.batch_size
        idx = torch.randint(0, len(self.train[0]), (size,), generator=generator)  # (B,)
        return tuple(t[idx].to(self.device, non_blocking=True) for t in self.train)

    def train_batch(self, generator: torch.Generator) -> Batch:
        return self.sample_batch(generator)

    def eval_chunks(self) -> Iterator[Batch]:
        """The held-out samples in fixed chunks of EVAL_CHUNK."""
        for start in range(0, len(self.eval[0]), EVAL_CHUNK):
            yield tuple(t[start : start + EVAL_CHUNK] for t in self.eval)
