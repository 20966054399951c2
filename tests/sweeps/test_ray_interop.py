"""A finished sweep folder opened with Ray's own public API, as a Ray user would."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.metrics import EVAL_LOSS, FLOPS, TOKENS
from contract.results import TRIALS_DIR
from sweeps.cli import main

SPEC = """\
name: interop
model: {size: {grid: [gpt-10k, gpt-20k]}, seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 60000}}
optim: {lr: 3.0e-3}
trainer: {batch_size: 8, max_tokens: 4096, eval_interval_steps: 8, eval_tokens: 1024}
"""

pytestmark = pytest.mark.ray


def test_experiment_analysis_and_tuner_restore_read_a_finished_sweep(ray_session, tmp_path):
    from ray import tune
    from ray.tune import ExperimentAnalysis

    from sweeps.tune.runner import TRAINABLE

    spec = tmp_path / "interop.yaml"
    spec.write_text(SPEC)
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    sweep = tmp_path / "interop"
    experiment = sweep / "tune" / "main-attempt-1"

    frame = ExperimentAnalysis(str(experiment)).dataframe()
    assert len(frame) == 2
    assert set(frame["config/model.size"]) == {"gpt-10k", "gpt-20k"}  # swept values, readable
    assert (frame[[EVAL_LOSS, TOKENS, FLOPS]] > 0).all().all()

    results = tune.Tuner.restore(str(experiment), trainable=TRAINABLE).get_results()
    grid = results.get_dataframe()
    assert set(grid["config/model.size"]) == {"gpt-10k", "gpt-20k"}
    assert grid[EVAL_LOSS].notna().all()
    for result in results:
        # The trial's own final checkpoint folder, registered in place (no copy in tune/).
        folder = Path(result.checkpoint.path)
        assert folder.is_dir() and folder.parent.parent.parent == sweep / TRIALS_DIR
        assert folder.parent.parent.name.startswith(result.config["model.size"])
        assert not list(experiment.rglob("checkpoint_0*"))
    best = results.get_best_result(metric=EVAL_LOSS, mode="min")
    assert best.metrics[EVAL_LOSS] == grid[EVAL_LOSS].min()


def test_trial_actors_are_named_by_their_trial_folder():
    from types import SimpleNamespace

    from ray._raylet import PythonFunctionDescriptor

    from sweeps.tune.trainable import TRAINABLE, SweepTrial

    assert TRAINABLE.__name__ == "SweepTrial"
    # What Ray records as the actor's class: the dashboard's and the state API's class column.
    assert PythonFunctionDescriptor.from_class(TRAINABLE).class_name == "SweepTrial"
    planned = SimpleNamespace(config={"trial": {"dirname": "gpt-10k-8315a4ebbc"}})
    assert SweepTrial.__repr__(planned) == "gpt-10k-8315a4ebbc"
    assert SweepTrial.__repr__(SimpleNamespace(config={})) == "SweepTrial"
