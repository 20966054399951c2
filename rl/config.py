"""The typed configuration of one RL trial: which algorithm, which environment, how much data.

An RL trial is the task `rl`: `RLTask` is the ``task: {type: rl, ...}`` section of a sweep YAML;
`RLTrialConfig` adds the policy network's size preset (``model:``) and the seed, and is what
`rl.train` runs. Neither knows about Ray.

    cfg = RLTrialConfig(model=ModelSpec(size="mlp-5k"), task=RLTask(max_env_steps=50_000))
    cfg.num_tokens()                      # 50000 env steps: the planner's data axis
    cfg.task.env_runners_for(num_cpus=2)  # 1 env runner next to the learner's CPU
    cfg.counts()                          # analytic size and FLOPs of the trained networks
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, cast

from pydantic import BaseModel, Field, field_validator, model_validator

from contract.config import FROZEN
from models import MLPConfig, ModelSpec
from rl.envs import check_env_id, env_shapes

DEFAULT_LR = {"ppo": 1e-3, "dqn": 5e-4}
"""Learning rate per algorithm when ``task.lr`` is left unset (ppo: tuned here on CartPole-v1;
dqn: RLlib's CartPole example)."""

RL_TASK = "rl"
"""The `task.type` of an RL trial: what makes a sweep's trials RL trials."""

MAIN_PROCESS_CPUS = 1.0
"""CPUs the trial's own process takes: it runs the algorithm driver and the local learner."""


class RLTask(BaseModel):
    """Reinforcement learning with RLlib: algorithm, environment, per-trial resources,
    hyperparameters and stop criteria."""

    model_config = FROZEN
    init_from_tasks: ClassVar[tuple[str, ...]] = ()
    """An RL trial never starts from another trial's checkpoint (pipelines ask every task)."""

    type: Literal["rl"] = RL_TASK
    """Task kind."""

    algo: Literal["ppo", "dqn"] = "ppo"
    """RLlib algorithm: ppo (on-policy) or dqn (off-policy, discrete actions only)."""
    env: str = "CartPole-v1"
    """Gymnasium environment id, e.g. CartPole-v1, Pendulum-v1, LunarLander-v3."""
    env_config: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments passed to gymnasium.make for every environment copy."""

    num_env_runners: int | Literal["auto"] = "auto"
    """Sampling actors (count); auto fits as many as the trial's CPUs allow after the learner's."""
    num_envs_per_env_runner: int = Field(4, ge=1)
    """Vectorised environment copies stepped by each env runner (count)."""
    cpus_per_env_runner: float = Field(1.0, gt=0)
    """CPUs reserved per env runner (cores, may be fractional)."""
    num_learner_gpus: float = Field(0.0, ge=0)
    """GPUs for the learner, which runs in the trial's process (0 = learn on its CPU)."""

    lr: float | None = Field(None, gt=0)
    """Adam learning rate; None takes the algorithm's tuned default (ppo 1e-3, dqn 5e-4)."""
    gamma: float = Field(0.99, gt=0, le=1)
    """Discount factor per env step (0-1]."""
    grad_clip: float | None = Field(None, gt=0)
    """Clip the global gradient norm to this value; None disables clipping."""

    train_batch_size: int = Field(2000, ge=1)
    """ppo: env steps sampled per training iteration (the on-policy batch)."""
    minibatch_size: int = Field(250, ge=1)
    """ppo: env steps per SGD minibatch within an iteration."""
    num_epochs: int = Field(10, ge=1)
    """ppo: passes of SGD over each iteration's batch."""
    gae_lambda: float = Field(0.95, ge=0, le=1)
    """ppo: generalised advantage estimation lambda (0-1)."""
    clip_param: float = Field(0.2, gt=0)
    """ppo: clip range of the probability ratio in the surrogate loss."""
    vf_loss_coeff: float = Field(0.5, ge=0)
    """ppo: weight of the value-function loss in the total loss."""
    entropy_coeff: float = Field(0.0, ge=0)
    """ppo: weight of the entropy bonus in the total loss."""
    use_kl_loss: bool = False
    """ppo: add RLlib's adaptive KL penalty on top of the clipped objective."""

    replay_batch_size: int = Field(64, ge=1)
    """dqn: transitions per SGD step, sampled from the replay buffer."""
    replay_capacity: int = Field(50_000, ge=1)
    """dqn: replay buffer size (transitions)."""
    learning_starts_steps: int = Field(1_000, ge=0)
    """dqn: env steps sampled before the first SGD step."""
    target_update_interval_steps: int = Field(500, ge=1)
    """dqn: env steps between target-network syncs."""
    epsilon_final: float = Field(0.02, ge=0, le=1)
    """dqn: exploration rate (0-1) reached at the end of the linear decay from 1.0."""
    epsilon_decay_steps: int = Field(10_000, ge=1)
    """dqn: env steps over which epsilon decays linearly from 1.0 to epsilon_final."""
    n_step: int = Field(3, ge=1)
    """dqn: steps of the n-step return used in the TD target."""

    max_env_steps: int = Field(200_000, ge=1)
    """Data budget (env steps sampled); the trial stops once it is reached. The data axis."""
    target_return: float | None = None
    """Stop early once the mean episode return reaches this value; None never stops early."""
    checkpoint_interval_iters: int = Field(5, ge=1)
    """Training iterations between checkpoints (one is also written at the end)."""

    @field_validator("env")
    @classmethod
    def _known_env(cls, env: str) -> str:
        return check_env_id(env)

    @field_validator("num_env_runners")
    @classmethod
    def _runners_non_negative(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"task.num_env_runners must be >= 0 or 'auto', got {value}")
        return value

    @model_validator(mode="after")
    def _check_batches(self) -> RLTask:
        if self.algo == "ppo" and self.minibatch_size > self.train_batch_size:
            raise ValueError(
                f"task.minibatch_size ({self.minibatch_size}) must be <= task.train_batch_size "
                f"({self.train_batch_size})"
            )
        return self

    @property
    def learning_rate(self) -> float:
        """`lr`, or the algorithm's default when unset."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.algo]

    def env_runners_for(self, num_cpus: float) -> int:
        """Env runners for a trial given `num_cpus` CPUs: the configured number, or for auto
        as many as fit next to the trial's own process (0 means sampling in that process)."""
        if self.num_env_runners != "auto":
            return self.num_env_runners
        # RLlib's own default (2 runners) asks for 3 CPUs, so a trial on a 2-core machine
        # would wait forever for its placement group; size from what the trial is given.
        spare = num_cpus - MAIN_PROCESS_CPUS
        return max(0, int(spare / self.cpus_per_env_runner + 1e-9))


class RLTrialConfig(BaseModel):
    """One RL trial: the policy network's size preset, the RL settings and the seed."""

    model_config = FROZEN

    model: ModelSpec = ModelSpec(size="mlp-20k")
    """Policy/value network size: an mlp preset whose hidden widths, depth and activation
    define the network trunks (input and output sizes come from the environment)."""
    task: RLTask = RLTask()
    """Algorithm, environment, resources, hyperparameters and stop criteria (`type: rl`)."""
    seed: int = 0
    """Seed for RLlib's environments, network initialisation and sampling."""

    @model_validator(mode="after")
    def _kind_always_written(self) -> RLTrialConfig:
        # `task.type` says which kind of trial a config tree is (sweeps.spec.sweep_spec reads it), so a
        # dump of only the fields set (a trial's payload, a spec.yaml) must keep it.
        self.model_fields_set.add("task")
        self.task.model_fields_set.add("type")
        return self

    @model_validator(mode="after")
    def _mlp_policy(self) -> RLTrialConfig:
        if self.model.family != "mlp":
            raise ValueError(f"model.size: RL policies use mlp presets, got {self.model.size}")
        for key in ("d_in", "d_out"):
            if getattr(self.model, key) is not None:
                raise ValueError(f"model.{key}: RL policies take it from the environment's spaces")
        if self.model.dropout:
            raise ValueError("model.dropout: RLlib's policy networks have no dropout; leave it 0")
        return self

    @property
    def policy_mlp(self) -> MLPConfig:
        """The resolved MLP preset (only its hidden sizes and activation are used)."""
        return cast(MLPConfig, self.model.resolve())  # the family check guarantees an MLP

    @property
    def trunk_widths(self) -> tuple[int, ...]:
        """Layer widths of one network trunk: observation features, then the preset's hidden
        widths (RLlib's encoder; the heads are single Linear layers from the last width)."""
        obs_dim = env_shapes(self.task.env, self.task.env_config).obs_dim
        return (obs_dim, *self.policy_mlp.hidden_sizes)

    @property
    def num_params(self) -> int:
        """Trainable parameters (weights and biases) of the network RLlib's learner updates.

        ppo: policy trunk + policy head (logits; or mean and log-std per action dimension) +
        value trunk + value head. dqn: one trunk + dueling heads (advantage per action, state
        value); its target network is a frozen copy and not counted.
        """
        shapes = env_shapes(self.task.env, self.task.env_config)
        trunk = self.trunk_widths
        if self.task.algo == "dqn":
            heads = _linear(trunk[-1], shapes.num_actions) + _linear(trunk[-1], 1)
            return _chain(trunk) + heads
        pi_out = shapes.num_actions if shapes.discrete else 2 * shapes.num_actions
        return 2 * _chain(trunk) + _linear(trunk[-1], pi_out) + _linear(trunk[-1], 1)

    @property
    def num_params_total(self) -> int:
        """Same as num_params: the networks have no embeddings."""
        return self.num_params

    @property
    def flops_per_token(self) -> int:
        """Forward FLOPs per env step (the "token" of RL): 2 per parameter, as for models/."""
        return 2 * self.num_params

    def counts(self) -> tuple[int, int, int]:
        """(params, params_total, forward FLOPs per env step) of the trained networks: what
        the planner's row and the trial's reports both count."""
        return self.num_params, self.num_params_total, self.flops_per_token

    def train_size(self) -> None:
        """None: an RL trial samples its data from the environment and has no training split."""
        return None

    def num_tokens(self, train_tokens: int | None = None) -> int:
        """The trial's data budget in env steps (the planner's data axis); with no training
        split, `train_tokens` plays no part."""
        return self.task.max_env_steps


def _linear(d_in: int, d_out: int) -> int:
    return d_in * d_out + d_out


def _chain(widths: tuple[int, ...]) -> int:
    """Weights and biases of Linear layers through `widths` (input first)."""
    return sum(_linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
