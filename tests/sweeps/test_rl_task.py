"""RL is one more task: spelled `task: {type: rl, ...}`, chosen by its type in one place, and the
old top-level `rl:` section refused with the exact line to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl.config import RLTask, RLTrialConfig
from sweeps.cli import main
from sweeps.plan.trials import make_plan, trial_id
from sweeps.spec.sweep_spec import load_spec, trial_config_class
from sweeps.tune.trainable import trial_config, trial_payload
from trainers.config import TrialConfig

NEW = """\
name: t
model: {size: mlp-1k}
task: {type: rl, algo: ppo, env: CartPole-v1, max_env_steps: 2000}
search: {metric: env/episode_return_mean, mode: max}
"""
OLD = NEW.replace("task: {type: rl, ", "rl: {")


def _error(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, *args: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    assert main([str(path), "--dry-run", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_old_rl_section_is_refused_with_the_line_to_write(tmp_path, capsys) -> None:
    err = _error(tmp_path, capsys, OLD)
    assert "spec.yaml: rl: " in err
    suggestion = err.split("replace rl: with ", 1)[1]
    assert suggestion == "{task: {type: rl, algo: ppo, env: CartPole-v1, max_env_steps: 2000}}"
    # The suggested line, pasted in place of the old section, is a valid sweep.
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(OLD.replace(OLD.splitlines()[2], suggestion[1:-1]))
    assert main([str(fixed), "--dry-run"]) == 0


def test_an_old_style_override_is_refused_too(tmp_path, capsys) -> None:
    err = _error(tmp_path, capsys, NEW, "--set", "rl.lr=0.001")
    assert "replace rl: with {task: {type: rl, algo: ppo" in err and "lr: 0.001}}" in err


def test_pipeline_with_rl_section_is_refused(tmp_path, capsys) -> None:
    err = _error(tmp_path, capsys, OLD + "stages: [{name: a}]\n")
    assert "rl: RL settings are now a task" in err


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            NEW.replace("type: rl", "type: rll"),
            "task.type: 'rll' is not a known task; valid: classify, diffusion, lm, mlm, "
            "regression, rl",
        ),
        (
            NEW.replace("type: rl", "type: {grid: [rl, lm]}"),
            "task.type: rl trials need a sweep of their own",
        ),
        (NEW + "data: {fraction: 0.5}\n", "data: an rl task learns from its environment"),
        (NEW.replace("algo: ppo", "algo: a2c"), "task.algo"),
        (NEW + "resources: {gpus_per_worker: 1}\n", "through task.num_learner_gpus"),
    ],
)
def test_rl_task_mistakes_are_one_line(tmp_path, capsys, text: str, needle: str) -> None:
    assert needle in _error(tmp_path, capsys, text)


def test_task_type_alone_chooses_the_kind_of_trial() -> None:
    assert trial_config_class({"task": {"type": "rl"}}) is RLTrialConfig
    for tree in ({}, {"task": {"type": "mlm"}}, {"task": {"mask_rate": 0.2}}):
        assert trial_config_class(tree) is TrialConfig


def test_payload_names_no_kind_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "rl.yaml"
    path.write_text(NEW)
    point = make_plan(load_spec(path)).trials[0]
    payload = trial_payload(point)
    assert set(payload) == {"trial_id", "dirname", "assignment", "config", "resources"}
    assert payload["config"]["task"]["type"] == "rl"
    rebuilt = trial_config(payload)
    assert rebuilt == point.config and trial_id(rebuilt) == point.trial_id


def test_a_default_rl_config_still_says_it_is_rl() -> None:
    # Built in code, nothing set: a dump of the set fields must still select the RL class.
    for cfg in (RLTrialConfig(), RLTrialConfig(task=RLTask(algo="dqn"))):
        tree = cfg.model_dump(mode="json", exclude_unset=True)
        assert trial_config_class(tree).model_validate(tree) == cfg
