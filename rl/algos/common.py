"""What every algorithm builder shares: environment, resources, seed and network trunk.

Each `rl/algos/<name>.py` starts from its RLlib config class, applies `apply_common`, then sets
its own training hyperparameters. The trunk comes from the MLP preset with single-Linear heads,
the layout `RLTrialConfig.num_params` counts.

    model_config = trunk_model_config(cfg, vf_share_layers=False)
    config = apply_common(PPOConfig(), cfg, num_cpus=2, model_config=model_config)
    config.num_env_runners   # 1 on 2 CPUs with num_env_runners: auto
"""

from __future__ import annotations

from typing import TypeVar

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

from rl.config import RLTrialConfig

ConfigT = TypeVar("ConfigT", bound=AlgorithmConfig)

# RLlib resolves activation names with getattr(torch.nn, name) before its own lowercase
# aliases, so GELU needs torch's class name; the others are RLlib's own spellings.
_RLLIB_ACTIVATION = {"relu": "relu", "tanh": "tanh", "silu": "silu", "gelu": "GELU"}


def trunk_model_config(cfg: RLTrialConfig, **overrides: object) -> DefaultModelConfig:
    """RLlib's model config for the preset's trunk, with heads as single Linear layers so
    that depth and width come from the preset alone."""
    mlp = cfg.policy_mlp
    return DefaultModelConfig(
        fcnet_hiddens=list(mlp.hidden_sizes),
        fcnet_activation=_RLLIB_ACTIVATION[mlp.activation],
        head_fcnet_hiddens=[],
        **overrides,
    )


def apply_common(
    config: ConfigT, cfg: RLTrialConfig, num_cpus: float, model_config: DefaultModelConfig
) -> ConfigT:
    """Set environment, env runners, learner placement, network and seed on `config`."""
    task = cfg.task
    return (
        config.environment(task.env, env_config=dict(task.env_config))
        .env_runners(
            num_env_runners=task.env_runners_for(num_cpus),
            num_envs_per_env_runner=task.num_envs_per_env_runner,
            num_cpus_per_env_runner=task.cpus_per_env_runner,
        )
        # One local learner in the trial's own process: these networks are far too small for
        # data-parallel learners to pay off, and it keeps a trial's footprint to its bundles.
        .learners(num_learners=0, num_gpus_per_learner=task.num_learner_gpus)
        .rl_module(model_config=model_config)
        .debugging(seed=cfg.seed, log_level="WARN")
    )
