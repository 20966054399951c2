"""An RL sweep never accepts a resource request it would silently ignore."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.cli import main

SPEC = """\
name: t
model: {size: mlp-1k}
task: {type: rl, algo: ppo, env: CartPole-v1, max_env_steps: 2000}
search: {metric: env/episode_return_mean, mode: max}
"""


@pytest.mark.parametrize(
    ("resources", "key"),
    [
        ("{gpus_per_worker: 1}", "resources.gpus_per_worker"),
        ("{by_size: {mlp-1k: {gpus_per_worker: 0.5}}}", "resources.by_size.mlp-1k.gpus_per_worker"),
        ("{workers: 2}", "resources.workers"),
    ],
)
def test_unhonoured_rl_resources_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], resources: str, key: str
) -> None:
    path = tmp_path / "rl.yaml"
    path.write_text(SPEC + f"resources: {resources}\n")
    assert main([str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{key}: RL trials" in err


def test_learner_gpus_are_the_way_to_ask(tmp_path: Path) -> None:
    path = tmp_path / "rl.yaml"
    path.write_text(SPEC.replace("max_env_steps: 2000", "max_env_steps: 2000, num_learner_gpus: 1"))
    assert main([str(path), "--dry-run"]) == 0
