"""PPO from the typed config: RLlib's PPOConfig on the current API stack (RLModule/Learner).

The policy and the value function each get their own trunk with the preset's hidden widths
(RLlib's `vf_share_layers=False`), then a single Linear head: logits (Discrete), or mean and
log-std per action dimension (Box). `RLTrialConfig.num_params` counts exactly those layers.

    config = build(RLTrialConfig(), num_cpus=2)   # PPOConfig, 1 env runner x 4 envs
    algo = config.build_algo()
    result = algo.train()
"""

from __future__ import annotations

from ray.rllib.algorithms.ppo import PPOConfig

from rl.algos.common import apply_common, trunk_model_config
from rl.config import RLTrialConfig
from rl.envs import env_shapes


def build(cfg: RLTrialConfig, num_cpus: float) -> PPOConfig:
    """The PPO config of trial `cfg` when the trial is given `num_cpus` CPUs."""
    task = cfg.task
    env_shapes(task.env, task.env_config)  # fail here, with the field named, on unusable spaces
    config = apply_common(
        PPOConfig(), cfg, num_cpus, trunk_model_config(cfg, vf_share_layers=False)
    )
    return config.training(
        lr=task.learning_rate,
        gamma=task.gamma,
        grad_clip=task.grad_clip,
        train_batch_size_per_learner=task.train_batch_size,
        minibatch_size=task.minibatch_size,
        num_epochs=task.num_epochs,
        lambda_=task.gae_lambda,
        clip_param=task.clip_param,
        vf_loss_coeff=task.vf_loss_coeff,
        entropy_coeff=task.entropy_coeff,
        use_kl_loss=task.use_kl_loss,
        # RLlib zeroes the value loss's gradient where the squared error exceeds this, which
        # stalls the critic on tasks whose returns are in the hundreds (CartPole: up to 500).
        vf_clip_param=float("inf"),
    )
