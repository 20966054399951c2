"""Denoising-diffusion pretraining (DDPM, Ho et al. 2020) of an MLP on a 2-D point cloud.

Each step noises data points to a random step t of a fixed schedule, x_t = sqrt(abar_t) x_0 +
sqrt(1 - abar_t) eps, and trains the denoiser to predict eps (MSE: the reported loss). After
the last step, ancestral sampling draws task.num_samples_at_end points into
trial_dir/samples.csv and samples.png. `tokens` counts data points.

    cfg = TrialConfig(model=ModelSpec(size="mlp-5k"), task={"type": "diffusion", "dataset": "moons"})
    final = train(cfg, ListReporter(), Context(trial_dir="runs/d0"))
    # runs/d0/samples.csv: x0,x1 rows in the data's standardised units
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from contract.metrics import EVAL_LOSS
from data.continuous import point_cloud
from models.heads import Denoiser
from trainers.config import TrialConfig
from trainers.loop import run
from trainers.method import Batch, ModelCounts
from trainers.reporter import Context, Reporter
from trainers.sampled import SampleMethod
from trainers.tasks import DiffusionTask

EVAL_REPEATS = 8
"""Noise draws per held-out point at evaluation, at timesteps spread evenly over the schedule
(the noise-prediction loss varies a lot with t, so one draw per point is a noisy estimate)."""
COSINE_OFFSET = 0.008
"""The cosine schedule's small offset s, which keeps beta_1 from being vanishingly small."""
MAX_BETA = 0.999
"""Cap on any step's beta: the cosine schedule's last betas would otherwise reach 1."""
SAMPLES_CSV, SAMPLES_PNG = "samples.csv", "samples.png"


def betas(task: DiffusionTask) -> torch.Tensor:
    """Noise variance added at each step, (T,) float64."""
    T = task.num_timesteps
    if task.schedule == "linear":
        return torch.linspace(task.beta_start, task.beta_end, T, dtype=torch.float64)
    steps = torch.arange(T + 1, dtype=torch.float64) / T  # (T + 1,)
    alpha_bar = torch.cos((steps + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=MAX_BETA)  # (T,)


class Schedule:
    """beta_t, alpha_t = 1 - beta_t and alpha_bar_t = prod(alpha_1..t), as float32 on a device."""

    def __init__(self, task: DiffusionTask, device: torch.device) -> None:
        b = betas(task)  # (T,) float64, cumulative product taken in double precision
        self.betas = b.float().to(device)
        self.alphas = (1 - b).float().to(device)
        self.alpha_bar = torch.cumprod(1 - b, dim=0).float().to(device)

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t (B, D) for clean points x0 (B, D), steps t (B,) and noise eps (B, D)."""
        ab = self.alpha_bar[t][:, None]  # (B, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    @torch.no_grad()
    def sample(
        self, model: nn.Module, num: int, dim: int, generator: torch.Generator
    ) -> torch.Tensor:
        """Ancestral sampling from x_T ~ N(0, I) down to x_0: (num, dim) on the CPU.

        Uses the posterior variance beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t).
        """
        device = self.betas.device
        x = torch.randn(num, dim, generator=generator).to(device)  # (N, D)
        for t in reversed(range(len(self.betas))):
            steps = torch.full((num,), t, dtype=torch.long, device=device)
            eps = model(x, steps)  # (N, D)
            beta, ab = self.betas[t], self.alpha_bar[t]
            x = (x - beta / (1 - ab).sqrt() * eps) / self.alphas[t].sqrt()
            if t > 0:
                variance = beta * (1 - self.alpha_bar[t - 1]) / (1 - ab)
                x = x + variance.sqrt() * torch.randn(num, dim, generator=generator).to(device)
        return x.cpu()


def write_samples(samples: torch.Tensor, data: torch.Tensor, folder: Path) -> list[Path]:
    """samples.csv (header x0,x1,...) and a scatter plot over the data; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ",".join(f"x{i}" for i in range(samples.shape[1]))
    rows = "\n".join(",".join(f"{v:.6g}" for v in row) for row in samples.tolist())
    csv = folder / SAMPLES_CSV
    csv.write_text(f"{header}\n{rows}\n", encoding="utf-8")
    # The Figure API renders without pyplot, so no global backend is chosen for the process.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 4))
    ax = fig.add_subplot()
    ax.scatter(data[:, 0], data[:, 1], s=2, c="0.8", label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=3, c="C0", label="samples")
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7)
    png = folder / SAMPLES_PNG
    fig.savefig(png, dpi=100, bbox_inches="tight")
    return [csv, png]


class DiffusionMethod(SampleMethod):
    """Points of the task's cloud; noise-prediction MSE at fixed eval draws."""

    def __init__(self, cfg: TrialConfig, ctx: Context, device: torch.device) -> None:
        self.task: DiffusionTask = cfg.task
        task = self.task
        self.model_cfg = cfg.model_config_resolved()
        points = point_cloud(task.dataset, task.num_samples, task.noise, task.data_seed)
        super().__init__(cfg, ctx, device, tensors=(points,))
        self.schedule = Schedule(task, device)
        # Fixed eval draws: each held-out point EVAL_REPEATS times, t evenly over [0, T).
        (x0,) = self.eval
        n = len(x0) * EVAL_REPEATS
        eval_rng = torch.Generator().manual_seed(cfg.data.seed)
        t = torch.arange(n) * task.num_timesteps // n  # (n,)
        eps = torch.randn(n, task.data_dim, generator=eval_rng)  # (n, D)
        self.eval = (x0.repeat(EVAL_REPEATS, 1), t.to(device), eps.to(device))

    def build_model(self) -> Denoiser:
        return Denoiser(self.model_cfg, self.task.data_dim)

    def counts(self, model: nn.Module) -> ModelCounts:
        m = self.model_cfg  # the time embedding has no weights: the MLP is the whole model
        return ModelCounts(m.num_params, m.num_params_total, m.flops_per_token)

    def train_batch(self, generator: torch.Generator) -> Batch:
        (x0,) = self.sample_batch(generator)  # (B, D)
        B, D = x0.shape
        t = torch.randint(0, self.task.num_timesteps, (B,), generator=generator)  # (B,)
        eps = torch.randn(B, D, generator=generator)  # (B, D)
        return x0, t.to(self.device, non_blocking=True), eps.to(self.device, non_blocking=True)

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x0, t, eps = batch
        return F.mse_loss(model(self.schedule.noisy(x0, t, eps), t), eps)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        total, count = 0.0, 0
        for x0, t, eps in self.eval_chunks():
            pred = model(self.schedule.noisy(x0, t, eps), t).float()  # (n, D)
            total += float(F.mse_loss(pred, eps, reduction="sum"))
            count += eps.numel()
        return {EVAL_LOSS: total / count}

    def finish(self, model: nn.Module, trial_dir: Path) -> None:
        if self.task.num_samples_at_end == 0:
            return
        generator = torch.Generator().manual_seed(self.cfg.seed)
        samples = self.schedule.sample(
            model, self.task.num_samples_at_end, self.task.data_dim, generator
        )
        write_samples(samples, self.train[0], trial_dir)


# Context is a frozen dataclass, so one shared default instance is safe.
def train(cfg: TrialConfig, reporter: Reporter, ctx: Context = Context()) -> dict[str, float]:  # noqa: B008
    """Train one diffusion denoiser as `cfg` says, then sample; returns the final report."""
    return run(cfg, reporter, ctx, DiffusionMethod)
