"""Language-model pretraining: next-token prediction with a causal transformer, without Ray.

The token data (train shard and a fixed held-out slice) and the next-token loss; everything
else (optimizer, schedule, reports, checkpoints, resume, divergence) is the shared loop in
`trainers.loop`. Ray Train runs this same function on each worker. With task.init_from the
model starts from an upstream run's full weights (continued pretraining: same model, fresh
optimizer and schedule for this run's own budget).

    reporter = ListReporter()
    final = train(TrialConfig(model=ModelSpec(size="gpt-50k")), reporter)
    print(final["eval/loss"], len(reporter.reports))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contract.metrics import EVAL_LOSS
from data import build as build_data
from data import random_windows, shard, spread_windows
from models import GPT
from trainers import runtime
from trainers.checkpoint import load_state, upstream_checkpoint
from trainers.config import TrialConfig
from trainers.loop import run
from trainers.method import Batch, Method, ModelCounts, build_optimizer
from trainers.reporter import Context, Reporter

__all__ = ["LMMethod", "build_optimizer", "evaluate", "load_init_weights", "train"]


def load_init_weights(model: nn.Module, path: str, weights: dict[str, torch.Tensor]) -> None:
    """Copy an upstream checkpoint's model `weights` (read from `path`) into `model`, strictly:
    every tensor must exist with the same shape. Raises ValueError naming task.init_from."""
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as err:
        # torch lists every mismatch on its own line; the first one says enough.
        problems = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
        first = problems[0] if problems else " ".join(str(err).split())
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValueError(
            f"task.init_from: {path} holds a different model than this trial's "
            f"(continued training needs the same model config): {first}{more}"
        ) from None


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], precision: str
) -> float:
    """Mean next-token cross-entropy (nats per token) of `model` over `batches`."""
    was_training = model.training
    model.eval()
    device = batches[0][0].device
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for x, y in batches:
        with runtime.autocast(device, precision):
            logits = model(x)  # (B, T, V)
        total += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="sum")
        count += y.numel()
    model.train(was_training)
    return total.item() / count


class LMMethod(Method):
    """Token windows of the trial's corpus: this worker's shard for training, fixed held-out
    windows (trainer.eval_tokens of them, spread over the held-out split) for evaluation."""

    def __init__(self, cfg: TrialConfig, ctx: Context, device: torch.device) -> None:
        super().__init__(cfg, ctx, device)
        splits = build_data(cfg.data, min_train_tokens=cfg.tokens_per_step(ctx.world_size))
        self.train_size = len(splits.train)
        self.train_tokens = shard(splits.train, ctx.rank, ctx.world_size)
        self.model_cfg = cfg.model_config_resolved()
        if splits.vocab_size > self.model_cfg.vocab_size:
            raise ValueError(
                f"data: the tokenizer has {splits.vocab_size} ids but the model's vocab_size "
                f"is {self.model_cfg.vocab_size}"
            )
        self.vocab_size = splits.vocab_size
        self.seq_len = self.model_cfg.seq_len
        held_out = min(len(splits.eval), cfg.trainer.eval_tokens)
        if held_out < self.seq_len + 1:
            raise ValueError(
                f"trainer.eval_tokens: the held-out split gives {held_out} tokens, "
                f"fewer than one sequence of {self.seq_len + 1}"
            )
        num_windows = cfg.trainer.eval_tokens // self.seq_len
        windows = spread_windows(splits.eval, self.seq_len, num_windows, cfg.trainer.batch_size)
        self.eval_batches = [(x.to(device), y.to(device)) for x, y in windows]
        init_from = cfg.task.init_from
        self.init_weights: dict[str, torch.Tensor] | None = None
        if init_from is not None:
            self.init_weights = load_state(upstream_checkpoint(init_from))["model"]

    def build_model(self) -> GPT:
        model = self.model_cfg.build()
        if self.init_weights is not None:
            # A resumed trial then overwrites these with its own latest checkpoint.
            load_init_weights(model, self.cfg.task.init_from, self.init_weights)
        return model

    def counts(self, model: nn.Module) -> ModelCounts:
        m = self.model_cfg
        return ModelCounts(m.num_params, m.num_params_total, m.flops_per_token)

    def windows(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) random next-token windows of this worker's shard, each (B, T), on the CPU."""
        batch_size = self.cfg.trainer.batch_size
        return random_windows(self.train_tokens, self.seq_len, batch_size, generator)

    def train_batch(self, generator: torch.Generator) -> Batch:
        x, y = self.windows(generator)  # (B, T) each
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch
        logits = model(x)  # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {EVAL_LOSS: evaluate(model, self.eval_batches, self.cfg.trainer.precision)}


# Context is a frozen dataclass, so one shared default instance is safe.
def train(cfg: TrialConfig, reporter: Reporter, ctx: Context = Context()) -> dict[str, float]:  # noqa: B008
    """Train one language model as `cfg` says; returns the metrics of the final report.

    Resumes from `reporter.latest_checkpoint()` when it names a folder; raises TrialDiverged
    when the train loss becomes NaN or infinite (see trainers.loop.run).
    """
    return run(cfg, reporter, ctx, LMMethod)
