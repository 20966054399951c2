"""Masked-language-model pretraining: a bidirectional encoder predicts masked tokens.

Same token data as `trainers.lm`; each window gets BERT-style corruption (task.mask_rate of
the positions chosen; of those, [MASK] / random token / unchanged as the task says) and the
loss is the cross-entropy on the chosen positions only. The [MASK] id is data.vocab_size, an
extra embedding row the task adds to the model (see trainers.tasks.MLMTask).

    cfg = TrialConfig(model=ModelSpec(size="gpt-50k"), task={"type": "mlm", "mask_rate": 0.15})
    final = train(cfg, ListReporter())
    print(final["eval/loss"])      # nats per masked token
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contract.metrics import EVAL_LOSS
from trainers.config import TrialConfig
from trainers.lm import LMMethod
from trainers.loop import run
from trainers.method import Batch
from trainers.reporter import Context, Reporter
from trainers.tasks import MLMTask

IGNORE = -100
"""Target id of positions that are not scored (cross_entropy's ignore_index)."""


def mask_tokens(
    x: torch.Tensor, task: MLMTask, vocab_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), each (B, T), for clean tokens x (B, T) on the CPU.

    targets holds the original token at chosen positions and IGNORE elsewhere; every row has
    at least one chosen position, so no batch is ever without a loss.
    """
    B, T = x.shape
    chosen = torch.rand(B, T, generator=generator) < task.mask_rate  # (B, T)
    fallback = torch.randint(0, T, (B,), generator=generator)  # (B,)
    empty = ~chosen.any(dim=1)
    chosen[empty, fallback[empty]] = True
    how = torch.rand(B, T, generator=generator)  # decides [MASK] / random / keep
    random_ids = torch.randint(0, vocab_size, (B, T), generator=generator)
    to_mask = chosen & (how < task.mask_token_fraction)
    cut = task.mask_token_fraction + task.random_token_fraction
    to_random = chosen & (how >= task.mask_token_fraction) & (how < cut)
    inputs = torch.where(to_mask, torch.full_like(x, vocab_size), x)  # [MASK] id = vocab_size
    inputs = torch.where(to_random, random_ids, inputs)
    targets = torch.where(chosen, x, torch.full_like(x, IGNORE))
    return inputs, targets


class MLMMethod(LMMethod):
    """LM token windows, corrupted; the eval masks are drawn once (seeded by data.seed), so
    every evaluation scores the same positions."""

    def __init__(self, cfg: TrialConfig, ctx: Context, device: torch.device) -> None:
        super().__init__(cfg, ctx, device)
        self.task: MLMTask = cfg.task
        eval_rng = torch.Generator().manual_seed(cfg.data.seed)
        self.eval_batches = [
            tuple(t.to(device) for t in mask_tokens(x.cpu(), self.task, self.vocab_size, eval_rng))
            for x, _ in self.eval_batches
        ]

    def train_batch(self, generator: torch.Generator) -> Batch:
        x, _ = self.windows(generator)  # (B, T)
        inputs, targets = mask_tokens(x, self.task, self.vocab_size, generator)
        return inputs.to(self.device, non_blocking=True), targets.to(self.device, non_blocking=True)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        inputs, targets = batch
        logits = model(inputs)  # (B, T, V + 1)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        count = 0
        for inputs, targets in self.eval_batches:
            logits = model(inputs)  # (B, T, V + 1)
            total += F.cross_entropy(
                logits.flatten(0, 1).float(),
                targets.flatten(),
                ignore_index=IGNORE,
                reduction="sum",
            )
            count += int((targets != IGNORE).sum())
        return {EVAL_LOSS: total.item() / count}


# Context is a frozen dataclass, so one shared default instance is safe.
def train(cfg: TrialConfig, reporter: Reporter, ctx: Context = Context()) -> dict[str, float]:  # noqa: B008
    """Pretrain one masked-LM encoder as `cfg` says; returns the final report's metrics."""
    return run(cfg, reporter, ctx, MLMMethod)
