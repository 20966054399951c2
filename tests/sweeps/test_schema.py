"""`--schema` describes every file the product accepts: each shipped YAML validates against it
with a real JSON-schema validator, and a misspelled key does not."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from sweeps.spec.schema import spec_json_schema

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
VALIDATOR = jsonschema.Draft202012Validator(spec_json_schema())


def test_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(spec_json_schema())


@pytest.mark.parametrize("path", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_yaml_validates(path: Path) -> None:
    errors = [e.message for e in VALIDATOR.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize(
    "text",
    [
        "name: t\nmodle: {size: gpt-10k}\n",
        "name: t\noptim: {lrr: 0.1}\n",
        "name: t\nrl: {algo: ppo, env: CartPole-v1}\n",
        "name: t\ntask: {type: rl, envv: CartPole-v1}\n",
        "name: t\ntask: {algo: ppo, env: CartPole-v1}\n",
        "name: t\ntask: {type: lm, algo: ppo}\n",
        "name: t\nstages: [{name: a, trainerr: {}}]\n",
        "name: t\nstages: [{task: {type: lm}}]\n",
        "name: t\noptim: {lr: {gird: [0.1, 0.2]}}\n",
    ],
)
def test_mistakes_do_not_validate(text: str) -> None:
    assert list(VALIDATOR.iter_errors(yaml.safe_load(text)))


def test_rl_is_one_more_task_in_the_schema() -> None:
    text = "name: t\nmodel: {size: mlp-1k}\ntask: {type: rl, algo: ppo, max_env_steps: {grid: [1, 2]}}\n"
    assert list(VALIDATOR.iter_errors(yaml.safe_load(text))) == []
