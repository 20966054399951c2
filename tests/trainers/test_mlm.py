"""Masked-LM pretraining on the tiny synthetic language: masking, learning, counts, resume."""

from __future__ import annotations

import math

import pytest
import torch

from contract.metrics import (
    DONE,
    EVAL_LOSS,
    PARAMS,
    PARAMS_TOTAL,
    STANDARD_METRICS,
    STEP,
    TRAIN_LOSS,
)
from trainers.checkpoint import load_state
from trainers.lm import train as train_lm
from trainers.mlm import IGNORE, mask_tokens, train
from trainers.reporter import Context, ListReporter
from trainers.tasks import MLMTask

from .conftest import VOCAB_SIZE
from .test_lm import CrashAfter


def test_masking_follows_the_rates():
    x = torch.randint(0, VOCAB_SIZE, (512, 64))
    task = MLMTask(mask_rate=0.2)
    inputs, targets = mask_tokens(x, task, VOCAB_SIZE, torch.Generator().manual_seed(0))
    chosen = targets != IGNORE
    assert chosen.float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert torch.equal(targets[chosen], x[chosen])
    assert torch.equal(inputs[~chosen], x[~chosen])  # unchosen positions are never touched
    masked = (inputs == VOCAB_SIZE) & chosen
    assert (inputs == VOCAB_SIZE).sum() == masked.sum()  # [MASK] only where chosen
    assert masked.sum().item() / chosen.sum().item() == pytest.approx(0.8, abs=0.02)
    # 10% random (some land on their own token) + 10% kept.
    unchanged = (inputs == x) & chosen
    assert unchanged.sum().item() / chosen.sum().item() == pytest.approx(0.1 + 0.1 / 16, abs=0.02)


def test_every_row_gets_a_masked_position():
    x = torch.randint(0, VOCAB_SIZE, (256, 4))
    task = MLMTask(mask_rate=0.01)
    _, targets = mask_tokens(x, task, VOCAB_SIZE, torch.Generator().manual_seed(1))
    assert bool((targets != IGNORE).any(dim=1).all())


def test_masking_is_a_function_of_the_generator():
    x = torch.randint(0, VOCAB_SIZE, (8, 32))
    a = mask_tokens(x, MLMTask(), VOCAB_SIZE, torch.Generator().manual_seed(3))
    b = mask_tokens(x, MLMTask(), VOCAB_SIZE, torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def mlm_run(make_task_cfg, tmp_path_factory):
    cfg = make_task_cfg({"type": "mlm"}, steps=40, eval_interval_steps=10)
    trial_dir = tmp_path_factory.mktemp("mlm")
    reporter = ListReporter()
    final = train(cfg, reporter, Context(trial_dir=str(trial_dir), num_threads=1))
    return cfg, reporter, final, trial_dir


def test_mlm_learns_and_reports_every_standard_metric(mlm_run):
    cfg, reporter, final, _ = mlm_run
    assert [r[STEP] for r in reporter.reports] == [10, 20, 30, 40]
    for report in reporter.reports:
        assert set(STANDARD_METRICS) <= set(report)
        assert all(math.isfinite(report[k]) for k in STANDARD_METRICS)
    assert final[DONE] == 1.0
    first = reporter.reports[0]
    assert final[EVAL_LOSS] < first[EVAL_LOSS] < math.log(VOCAB_SIZE + 1)
    assert final[TRAIN_LOSS] < first[TRAIN_LOSS]


def test_mlm_trains_a_bidirectional_encoder_with_a_mask_row(mlm_run):
    cfg, _, final, trial_dir = mlm_run
    model_cfg = cfg.model_config_resolved()
    assert model_cfg.causal is False
    state = load_state(trial_dir / "checkpoints" / "final")
    assert state["model"]["tok_emb.weight"].shape[0] == VOCAB_SIZE + 1
    assert (final[PARAMS], final[PARAMS_TOTAL]) == (
        model_cfg.num_params,
        model_cfg.num_params_total,
    )


def test_mlm_resume_matches_an_uninterrupted_run(mlm_run, tmp_path):
    cfg, _, full_final, full_dir = mlm_run
    ctx = Context(trial_dir=str(tmp_path), num_threads=1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, CrashAfter(reports=2), ctx)
    resumed = ListReporter(resume_from=str(tmp_path / "checkpoints" / "latest"))
    final = train(cfg, resumed, ctx)
    assert [r[STEP] for r in resumed.reports] == [30, 40]
    assert final[EVAL_LOSS] == full_final[EVAL_LOSS]
    ours = load_state(tmp_path / "checkpoints" / "final")["model"]
    theirs = load_state(full_dir / "checkpoints" / "final")["model"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_resume_refuses_a_checkpoint_of_another_task(mlm_run, make_cfg, tmp_path):
    _, _, _, mlm_dir = mlm_run
    reporter = ListReporter(resume_from=str(mlm_dir / "checkpoints" / "latest"))
    with pytest.raises(ValueError, match="is from a mlm run, not lm"):
        train_lm(make_cfg(40, eval_interval_steps=10), reporter, Context(trial_dir=str(tmp_path)))
