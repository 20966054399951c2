"""DDPM pretraining on a 2-D point cloud: schedules, the sampler, learning and artefacts."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from contract.metrics import DONE, EVAL_LOSS, STANDARD_METRICS, TOKENS, TRAIN_LOSS
from trainers.diffusion import SAMPLES_CSV, SAMPLES_PNG, Schedule, betas, train
from trainers.reporter import Context, ListReporter
from trainers.tasks import DiffusionTask

CPU = torch.device("cpu")


def test_linear_schedule_runs_from_beta_start_to_beta_end():
    task = DiffusionTask(num_timesteps=50, beta_start=1e-3, beta_end=0.2)
    b = betas(task)
    assert b.shape == (50,) and b[0].item() == pytest.approx(1e-3) and b[-1].item() == 0.2
    schedule = Schedule(task, CPU)
    assert schedule.alpha_bar[-1].item() == pytest.approx(task.alpha_bar_final, rel=1e-5)


def test_cosine_schedule_decays_to_no_signal():
    schedule = Schedule(DiffusionTask(schedule="cosine", num_timesteps=100), CPU)
    alpha_bar = schedule.alpha_bar
    assert bool((alpha_bar[1:] < alpha_bar[:-1]).all())
    assert alpha_bar[0].item() > 0.999 and alpha_bar[-1].item() < 1e-6


def test_noisy_mixes_signal_and_noise_by_alpha_bar():
    schedule = Schedule(DiffusionTask(), CPU)
    x0, eps = torch.ones(2, 2), torch.full((2, 2), -1.0)
    t = torch.tensor([0, 99])
    x_t = schedule.noisy(x0, t, eps)
    ab = schedule.alpha_bar[t][:, None]
    assert torch.allclose(x_t, ab.sqrt() - (1 - ab).sqrt())


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_sampler_with_the_exact_denoiser_of_gaussian_data_returns_gaussian_samples(schedule):
    # For x0 ~ N(0, I), x_t ~ N(0, I) too and E[eps | x_t] = sqrt(1 - abar_t) x_t: the perfect
    # denoiser, so ancestral sampling must give back N(0, I).
    sched = Schedule(DiffusionTask(schedule=schedule), CPU)

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (1 - sched.alpha_bar[t])[:, None].sqrt() * x

    samples = sched.sample(oracle, 8000, 2, torch.Generator().manual_seed(0))
    assert samples.mean(0).abs().max().item() < 0.05
    assert samples.std(0).sub(1).abs().max().item() < 0.05


@pytest.fixture(scope="module")
def diffusion_run(make_task_cfg, tmp_path_factory):
    task = {"type": "diffusion", "num_samples": 4096, "num_samples_at_end": 64}
    cfg = make_task_cfg(task, steps=60, batch_size=64, eval_interval_steps=20)
    trial_dir = tmp_path_factory.mktemp("diffusion")
    reporter = ListReporter()
    final = train(cfg, reporter, Context(trial_dir=str(trial_dir), num_threads=1))
    return cfg, reporter, final, trial_dir


def test_diffusion_learns_and_reports_every_standard_metric(diffusion_run):
    _, reporter, final, _ = diffusion_run
    for report in reporter.reports:
        assert set(STANDARD_METRICS) <= set(report)
        assert all(math.isfinite(report[k]) for k in STANDARD_METRICS)
    first = reporter.reports[0]
    # Predicting zero noise scores 1.0 (unit-variance eps); a denoiser does better.
    assert final[EVAL_LOSS] < first[EVAL_LOSS] < 1.0
    assert final[TRAIN_LOSS] < first[TRAIN_LOSS]
    assert final[DONE] == 1.0 and final[TOKENS] == 60 * 64


def test_diffusion_writes_samples_at_the_end(diffusion_run):
    _, _, _, trial_dir = diffusion_run
    with open(trial_dir / SAMPLES_CSV, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["x0", "x1"] and len(rows) == 1 + 64
    values = torch.tensor([[float(v) for v in row] for row in rows[1:]])
    assert bool(torch.isfinite(values).all()) and values.std().item() > 0.1
    assert (trial_dir / SAMPLES_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_samples_when_none_are_asked_for(make_task_cfg, tmp_path):
    task = {"type": "diffusion", "num_samples": 512, "num_samples_at_end": 0}
    cfg = make_task_cfg(task, steps=2)
    train(cfg, ListReporter(), Context(trial_dir=str(tmp_path), num_threads=1))
    assert not (tmp_path / SAMPLES_CSV).exists()
    assert (tmp_path / "checkpoints" / "final").is_dir()
