"""DQN from the typed config: RLlib's DQNConfig (double, dueling, n-step, prioritized replay).

The off-policy algorithm of the package, for Discrete action spaces. The Q-network is one
trunk with the preset's hidden widths, then RLlib's dueling heads: an advantage Linear (one
output per action) and a state-value Linear. The target network is a frozen copy the learner
keeps; `RLTrialConfig.num_params` counts the trained network only.

    config = build(RLTrialConfig(task=RLTask(algo="dqn")), num_cpus=2)
    algo = config.build_algo()
    result = algo.train()
"""

from __future__ import annotations

from ray.rllib.algorithms.dqn import DQNConfig

from rl.algos.common import apply_common, trunk_model_config
from rl.config import RLTrialConfig
from rl.envs import env_shapes


def build(cfg: RLTrialConfig, num_cpus: float) -> DQNConfig:
    """The DQN config of trial `cfg` when the trial is given `num_cpus` CPUs."""
    task = cfg.task
    shapes = env_shapes(task.env, task.env_config)
    if not shapes.discrete:
        raise ValueError(
            f"task.algo: dqn needs a Discrete action space; {task.env!r} has a Box one"
        )
    config = apply_common(DQNConfig(), cfg, num_cpus, trunk_model_config(cfg))
    return config.training(
        lr=task.learning_rate,
        gamma=task.gamma,
        grad_clip=task.grad_clip,
        train_batch_size_per_learner=task.replay_batch_size,
        replay_buffer_config={
            "type": "PrioritizedEpisodeReplayBuffer",
            "capacity": task.replay_capacity,
            "alpha": 0.6,
            "beta": 0.4,
        },
        num_steps_sampled_before_learning_starts=task.learning_starts_steps,
        target_network_update_freq=task.target_update_interval_steps,
        epsilon=[(0, 1.0), (task.epsilon_decay_steps, task.epsilon_final)],
        n_step=task.n_step,
        double_q=True,
        dueling=True,
        num_atoms=1,
        noisy=False,
    )
