"""RLTask / RLTrialConfig: defaults, derived values and one-line errors naming the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models import ModelSpec, training_flops
from rl.config import RLTask, RLTrialConfig


def test_defaults_and_data_axis():
    cfg = RLTrialConfig(task=RLTask(max_env_steps=50_000))
    assert cfg.task.type == "rl"
    assert cfg.num_tokens() == cfg.num_tokens(cfg.train_size()) == 50_000
    assert cfg.train_size() is None  # sampled from the environment: no training split
    assert cfg.model.size == "mlp-20k"
    assert cfg.policy_mlp.hidden_sizes == (128, 128)
    assert cfg.task.learning_rate == 1e-3
    assert RLTask(algo="dqn").learning_rate == 5e-4
    assert RLTask(lr=3e-4).learning_rate == 3e-4


def test_config_does_not_import_ray():
    # Loading a sweep spec must stay cheap: only running or sizing a trial imports RLlib.
    code = "import sys, rl; rl.RLTrialConfig(); print(any(m.split('.')[0] == 'ray' for m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("num_cpus", "runners"), [(1, 0), (1.5, 0), (2, 1), (2.9, 1), (4, 3), (16, 15)]
)
def test_auto_env_runners_leave_one_cpu_to_the_learner(num_cpus, runners):
    assert RLTask().env_runners_for(num_cpus) == runners


def test_explicit_env_runners_and_fractional_cpus():
    assert RLTask(num_env_runners=3).env_runners_for(1) == 3
    assert RLTask(cpus_per_env_runner=0.5).env_runners_for(2) == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"task": {"env": "Foo-v0"}}, "task.env: unknown Gymnasium environment 'Foo-v0'"),
        ({"task": {"env": "CartPol-v1"}}, "did you mean CartPole-v1"),
        ({"model": {"size": "gpt-1m"}}, "model.size: RL policies use mlp presets, got gpt-1m"),
        ({"model": {"size": "mlp-5k", "d_in": 8}}, "model.d_in"),
        ({"model": {"size": "mlp-5k", "dropout": 0.1}}, "model.dropout"),
        ({"task": {"minibatch_size": 5000}}, "task.minibatch_size (5000) must be <="),
        ({"task": {"num_env_runners": -1}}, "task.num_env_runners must be >= 0"),
        ({"task": {"algo": "a2c"}}, "'ppo' or 'dqn'"),
        ({"task": {"learning_rate": 1e-3}}, "learning_rate"),
    ],
)
def test_user_mistakes_name_the_field(raw, message):
    with pytest.raises(ValueError) as err:
        RLTrialConfig.model_validate(raw)
    assert message in str(err.value)


def test_frozen():
    cfg = RLTrialConfig(model=ModelSpec(size="mlp-1k"))
    with pytest.raises(ValueError):
        cfg.seed = 1  # type: ignore[misc]


def test_analytic_counts_without_rllib():
    # mlp-20k trunk on CartPole: (4 -> 128 -> 128) = 640 + 16_512 weights and biases.
    ppo = RLTrialConfig()
    assert ppo.trunk_widths == (4, 128, 128)
    assert ppo.num_params == 2 * 17_152 + (128 * 2 + 2) + (128 + 1)
    assert ppo.num_params_total == ppo.num_params and ppo.flops_per_token == 2 * ppo.num_params
    dqn = RLTrialConfig(task=RLTask(algo="dqn"))
    assert dqn.num_params == 17_152 + (128 * 2 + 2) + (128 + 1)
    # A Box action needs a mean and a log-std per dimension.
    pendulum = RLTrialConfig(model=ModelSpec(size="mlp-1k"), task=RLTask(env="Pendulum-v1"))
    assert pendulum.num_params == 2 * (3 * 24 + 24 + 24 * 24 + 24) + (24 * 2 + 2) + (24 + 1)
    # The planner's FLOP estimate works on it like on any model config.
    assert training_flops(ppo, 1000) == 3 * ppo.flops_per_token * 1000
    assert ppo.counts() == (ppo.num_params, ppo.num_params, ppo.flops_per_token)
