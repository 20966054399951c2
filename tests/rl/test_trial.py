"""The trial loop without Tune: reports, checkpoints, resume, stop criteria, divergence."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from contract.metrics import (
    DONE,
    EPISODE_RETURN,
    FLOPS,
    FLOPS_PER_S,
    MFU,
    PARAMS,
    STEP,
    TOKENS,
    TOKENS_PER_S,
    TRAIN_LOSS,
)
from models import ModelSpec
from rl.algos import get_algo
from rl.config import RLTask, RLTrialConfig
from rl.trial import train
from trainers.reporter import ListReporter, TrialDiverged

pytestmark = pytest.mark.ray


def _tiny(max_env_steps: int, **rl) -> RLTrialConfig:
    # 0 env runners (num_cpus=1 below): sampling in the trial process keeps the test to one CPU.
    return RLTrialConfig(
        model=ModelSpec(size="mlp-1k"),
        task=RLTask(
            max_env_steps=max_env_steps,
            train_batch_size=200,
            minibatch_size=100,
            num_epochs=1,
            checkpoint_interval_iters=2,
            **rl,
        ),
    )


def test_train_reports_checkpoints_and_resumes(ray_session, tmp_path: Path):
    cfg = _tiny(600)
    reporter = ListReporter()
    final = train(cfg, reporter, num_cpus=1, trial_dir=str(tmp_path))
    reports = reporter.reports
    assert final == reports[-1] and final[DONE] == 1.0
    assert [r[STEP] for r in reports] == list(range(1, len(reports) + 1))
    assert final[TOKENS] >= 600 and all(DONE not in r for r in reports[:-1])
    assert final[PARAMS] == cfg.num_params > 0
    assert final[FLOPS] == 6 * final[PARAMS] * final[TOKENS]
    assert final[TOKENS_PER_S] > 0 and EPISODE_RETURN in final
    # Speed under the one definition of compute, against the trial's CPU peak.
    assert final[FLOPS_PER_S] == pytest.approx(6 * final[PARAMS] * final[TOKENS_PER_S])
    assert 0 < final[MFU] < 1
    latest = tmp_path / "checkpoints" / "latest"
    assert reporter.checkpoint_dirs[1] == str(latest) and reporter.checkpoint_dirs[-1] == str(
        latest
    )
    assert reporter.checkpoint_dirs[0] is None
    assert (latest / "state.pt").is_file() and (latest / "algorithm").is_dir()

    # Resume with a larger budget: counters continue from the checkpoint, not from zero.
    resumed = ListReporter(resume_from=str(latest))
    train(_tiny(1000), resumed, num_cpus=1, trial_dir=str(tmp_path))
    assert resumed.reports[0][STEP] == final[STEP] + 1
    assert resumed.reports[0][TOKENS] > final[TOKENS]
    assert resumed.reports[-1][TOKENS] >= 1000


def test_target_return_stops_early(ray_session, tmp_path: Path):
    reporter = ListReporter()
    final = train(_tiny(100_000, target_return=1.0), reporter, 1, str(tmp_path))
    assert len(reporter.reports) == 1 and final[DONE] == 1.0 and final[TOKENS] < 1000


def test_nan_loss_fails_the_trial_with_a_reason(ray_session, tmp_path: Path, monkeypatch):
    entry = get_algo("ppo")
    real_train = entry.algorithm_class.train

    def poisoned(self):
        result = real_train(self)
        result["learners"]["default_policy"]["total_loss"] = float("nan")
        return result

    monkeypatch.setattr(entry.algorithm_class, "train", poisoned)
    with pytest.raises(TrialDiverged, match=r"rl: learner loss became nan at iteration 1"):
        train(_tiny(1000), ListReporter(), 1, str(tmp_path))


def test_missing_checkpoint_folder_is_a_clear_error(ray_session, tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="has no algorithm/"):
        train(_tiny(200), ListReporter(resume_from=str(tmp_path)), 1, str(tmp_path))


def test_dqn_trial_learns_and_reports(ray_session, tmp_path: Path):
    cfg = RLTrialConfig(
        model=ModelSpec(size="mlp-1k"),
        task=RLTask(
            algo="dqn", max_env_steps=1000, learning_starts_steps=900, replay_batch_size=32
        ),
    )
    reporter = ListReporter()
    final = train(cfg, reporter, num_cpus=1, trial_dir=str(tmp_path))
    assert final[DONE] == 1.0 and final[TOKENS] >= 1000
    assert final[PARAMS] == cfg.num_params
    assert math.isfinite(final[TRAIN_LOSS])  # SGD ran after the warm-up
