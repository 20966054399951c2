"""Regression pretraining: an MLP fits a generated smooth function, reporting the MSE.

Inputs are model.d_in Gaussian features, targets model.d_out unit-variance outputs of a seeded
random function plus noise of std task.noise (data.continuous.regression_set), so the best
reachable eval/loss is task.noise**2: a known floor for scaling fits. `tokens` counts samples.

    cfg = TrialConfig(model=ModelSpec(size="mlp-5k"), task={"type": "regression", "noise": 0.1})
    final = train(cfg, ListReporter())
    print(final["eval/loss"])      # MSE, approaching 0.01
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from contract.metrics import EVAL_LOSS
from data.continuous import regression_set
from trainers.config import TrialConfig
from trainers.loop import run
from trainers.method import Batch, ModelCounts
from trainers.reporter import Context, Reporter
from trainers.sampled import SampleMethod
from trainers.tasks import RegressionTask


class RegressionMethod(SampleMethod):
    """(x, y) rows of the generated set; mean squared error over outputs and samples."""

    def __init__(self, cfg: TrialConfig, ctx: Context, device: torch.device) -> None:
        task: RegressionTask = cfg.task
        self.model_cfg = cfg.model_config_resolved()
        x, y = regression_set(
            task.target,
            task.num_samples,
            d_in=self.model_cfg.d_in,
            d_out=self.model_cfg.d_out,
            num_components=task.num_components,
            noise=task.noise,
            seed=task.data_seed,
        )  # (N, d_in), (N, d_out)
        super().__init__(cfg, ctx, device, tensors=(x, y))

    def build_model(self) -> nn.Module:
        return self.model_cfg.build()

    def counts(self, model: nn.Module) -> ModelCounts:
        m = self.model_cfg
        return ModelCounts(m.num_params, m.num_params_total, m.flops_per_token)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch  # (B, d_in), (B, d_out)
        return F.mse_loss(model(x), y)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        total, count = 0.0, 0
        for x, y in self.eval_chunks():
            total += float(F.mse_loss(model(x).float(), y, reduction="sum"))
            count += y.numel()
        return {EVAL_LOSS: total / count}


# Context is a frozen dataclass, so one shared default instance is safe.
def train(cfg: TrialConfig, reporter: Reporter, ctx: Context = Context()) -> dict[str, float]:  # noqa: B008
    """Train one regression MLP as `cfg` says; returns the final report's metrics."""
    return run(cfg, reporter, ctx, RegressionMethod)
