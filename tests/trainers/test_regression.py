"""Regression pretraining of an MLP on a generated function: learning, sample counting."""

from __future__ import annotations

import math

import pytest

from contract.metrics import (
    EVAL_LOSS,
    FLOPS,
    PARAMS,
    PARAMS_TOTAL,
    STANDARD_METRICS,
    STEP,
    TOKENS,
    TRAIN_LOSS,
)
from models import ModelSpec
from trainers.regression import train
from trainers.reporter import Context, ListReporter

from .conftest import BATCH_SIZE


@pytest.mark.parametrize("target", ["fourier", "teacher"])
def test_regression_learns_toward_the_noise_floor(make_task_cfg, tmp_path, target):
    task = {"type": "regression", "target": target, "num_samples": 4096, "noise": 0.1}
    model = ModelSpec(size="mlp-1k", d_in=4, d_model=64)
    cfg = make_task_cfg(task, steps=150, model=model, eval_interval_steps=25, batch_size=32)
    reporter = ListReporter()
    final = train(cfg, reporter, Context(trial_dir=str(tmp_path), num_threads=1))
    first = reporter.reports[0]
    # Targets have unit variance, so predicting their mean scores 1.0; the floor is 0.1**2.
    assert 0.01 < final[EVAL_LOSS] < 0.85 * first[EVAL_LOSS]
    assert final[EVAL_LOSS] < 0.7
    assert final[TRAIN_LOSS] < first[TRAIN_LOSS]


def test_regression_counts_samples_and_reports_every_metric(make_task_cfg, tmp_path):
    cfg = make_task_cfg({"type": "regression", "num_samples": 1000}, steps=4, eval_interval_steps=2)
    reporter = ListReporter()
    train(cfg, reporter, Context(trial_dir=str(tmp_path), num_threads=1))
    model_cfg = cfg.model_config_resolved()
    assert [r[STEP] for r in reporter.reports] == [2, 4]
    for r in reporter.reports:
        assert set(STANDARD_METRICS) <= set(r)
        assert all(math.isfinite(r[k]) for k in STANDARD_METRICS)
        assert r[TOKENS] == r[STEP] * BATCH_SIZE  # samples, not tokens
        assert (r[PARAMS], r[PARAMS_TOTAL]) == (model_cfg.num_params, model_cfg.num_params)
        assert r[FLOPS] == 3 * 2 * model_cfg.num_params * r[TOKENS]


def test_a_fraction_under_one_batch_is_rejected(make_task_cfg, tmp_path):
    task = {"type": "regression", "num_samples": 40}
    cfg = make_task_cfg(task, steps=2, batch_size=64)
    with pytest.raises(ValueError, match=r"data.fraction leaves \d+ training samples"):
        train(cfg, ListReporter(), Context(trial_dir=str(tmp_path)))
