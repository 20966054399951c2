"""Algorithm builders: typed config -> RLlib AlgorithmConfig, analytic counts, resources."""

from __future__ import annotations

import gymnasium as gym
import pytest
from torch import nn

from models import ModelSpec
from rl.algos import ALGOS, get_algo
from rl.config import RLTask, RLTrialConfig
from rl.trial import resources


def _cfg(algo: str = "ppo", env: str = "CartPole-v1", size: str = "mlp-20k", **rl) -> RLTrialConfig:
    return RLTrialConfig(model=ModelSpec(size=size), task=RLTask(algo=algo, env=env, **rl), seed=7)


def test_registry_holds_algorithm_classes_not_names():
    assert set(ALGOS) == {"ppo", "dqn"}
    assert [entry.algorithm_class.__name__ for entry in ALGOS.values()] == ["PPO", "DQN"]
    with pytest.raises(ValueError, match=r"task.algo: unknown algorithm 'sac'; valid: ppo, dqn"):
        get_algo("sac")


def test_ppo_config_carries_the_typed_settings():
    cfg = _cfg(size="mlp-5k", lr=3e-4, train_batch_size=1000, minibatch_size=100, num_epochs=4)
    config = get_algo("ppo").build(cfg, num_cpus=2)
    assert config.env == "CartPole-v1"
    assert config.num_env_runners == 1 and config.num_envs_per_env_runner == 4
    assert config.num_learners == 0 and config.seed == 7
    assert config.lr == 3e-4 and config.train_batch_size_per_learner == 1000
    assert config.minibatch_size == 100 and config.num_epochs == 4 and config.lambda_ == 0.95
    model = config.model_config
    assert model["fcnet_hiddens"] == [64, 64] and model["vf_share_layers"] is False
    assert model["fcnet_activation"] == "GELU" and model["head_fcnet_hiddens"] == []


def test_dqn_config_carries_the_typed_settings():
    cfg = _cfg("dqn", size="mlp-100k", replay_batch_size=32, n_step=2, num_env_runners=0)
    config = get_algo("dqn").build(cfg, num_cpus=4)
    assert config.num_env_runners == 0
    assert config.train_batch_size_per_learner == 32 and config.n_step == 2
    assert config.double_q and config.dueling
    assert config.model_config["fcnet_hiddens"] == [224, 224, 224]


def test_dqn_rejects_continuous_actions():
    with pytest.raises(ValueError, match="task.algo: dqn needs a Discrete action space"):
        get_algo("dqn").build(_cfg("dqn", env="Pendulum-v1"), num_cpus=2)


@pytest.mark.parametrize(
    ("algo", "env", "size", "activation"),
    [
        ("ppo", "CartPole-v1", "mlp-1k", None),
        ("ppo", "CartPole-v1", "mlp-100k", "tanh"),
        ("ppo", "Pendulum-v1", "mlp-5k", "relu"),
        ("dqn", "CartPole-v1", "mlp-20k", None),
        ("dqn", "Acrobot-v1", "mlp-1k", "silu"),
    ],
)
def test_analytic_param_count_matches_the_built_rl_module(algo, env, size, activation):
    cfg = RLTrialConfig(
        model=ModelSpec(size=size, activation=activation), task=RLTask(algo=algo, env=env)
    )
    entry = get_algo(algo)
    module = entry.build(cfg, num_cpus=2).get_rl_module_spec(env=gym.make(env)).build()
    assert cfg.num_params == sum(p.numel() for p in module.parameters() if p.requires_grad)
    widths = [m.out_features for m in module.modules() if isinstance(m, nn.Linear)]
    assert widths.count(cfg.policy_mlp.hidden_sizes[0]) >= cfg.policy_mlp.n_layers
    act = {"tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU, None: nn.GELU}[activation]
    assert any(isinstance(m, act) for m in module.modules())


def test_resources_follow_rllib_request():
    assert resources(_cfg(), num_cpus=2) == [{"CPU": 1.0}, {"CPU": 1.0}]
    assert resources(_cfg(), num_cpus=1) == [{"CPU": 1.0}]
    gpu = resources(_cfg(num_learner_gpus=1, num_env_runners=2, cpus_per_env_runner=0.5), 2)
    assert gpu == [{"CPU": 1.0, "GPU": 1.0}, {"CPU": 0.5}, {"CPU": 0.5}]
