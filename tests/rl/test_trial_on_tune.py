"""One tiny PPO trial through ray.tune.Tuner, the way the sweep runner runs RL trials.

Checks the combination the runner relies on: a function trainable calling `rl.train`, wrapped
in `tune.with_resources(PlacementGroupFactory(rl.resources(...)))`, whose RLlib env runner
must land inside the trial's placement group (no deadlock on a 2-CPU Ray instance).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

from contract.metrics import DONE, EPISODE_RETURN, PARAMS, TOKENS
from models import ModelSpec
from rl import resources, train
from rl.config import RLTask, RLTrialConfig

pytestmark = pytest.mark.ray

NUM_CPUS = 2


class _TuneReporter:
    """Forwards reports to ray.tune.report, attaching the checkpoint folder when given."""

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        from ray import tune

        checkpoint = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(dict(metrics), checkpoint=checkpoint)

    def latest_checkpoint(self) -> str | None:
        from ray import tune

        checkpoint = tune.get_checkpoint()
        return checkpoint.to_directory() if checkpoint else None


def _trainable(config: dict[str, Any]) -> None:
    cfg = RLTrialConfig.model_validate(config["cfg"])
    train(cfg, _TuneReporter(), num_cpus=NUM_CPUS)


def test_one_ppo_trial_through_tune(ray_session, tmp_path: Path):
    import ray.cloudpickle
    from ray import tune

    # Ray workers cannot import this test module (pytest put its folder on sys.path only in
    # this process), so ship the trainable and reporter by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = RLTrialConfig(
        model=ModelSpec(size="mlp-1k"),
        task=RLTask(max_env_steps=2000, train_batch_size=500, minibatch_size=250, num_epochs=2),
    )
    bundles = resources(cfg, NUM_CPUS)
    assert bundles == [{"CPU": 1.0}, {"CPU": 1.0}]  # trial process + one env runner
    trainable = tune.with_resources(_trainable, tune.PlacementGroupFactory(bundles))
    tuner = tune.Tuner(
        trainable,
        param_space={"cfg": cfg.model_dump(mode="json")},
        run_config=tune.RunConfig(name="rl-tune", storage_path=str(tmp_path), verbose=0),
    )
    grid = tuner.fit()
    result = grid[0]
    assert result.error is None
    metrics = result.metrics
    assert metrics[TOKENS] >= 2000
    assert metrics[PARAMS] > 0
    assert math.isfinite(metrics[EPISODE_RETURN]) and metrics[DONE] == 1.0
    assert result.checkpoint is not None
    assert (Path(result.checkpoint.path) / "algorithm").is_dir()
