"""The typed configuration of one trial: what a trainer needs to run, and nothing about Ray.

A sweep spec expands into many `TrialConfig`s (one per trial); a trainer's loop takes one. The
training method is `task.type`, with its options in `task:`. An RL trial (`task: {type: rl}`)
is `rl.config.RLTrialConfig`; both kinds offer `AnyTrialConfig`, all the planner asks of one.

    cfg = TrialConfig(model=ModelSpec(size="gpt-50k"), task={"type": "mlm", "mask_rate": 0.2})
    steps = cfg.num_steps(train_tokens=cfg.train_size())
    get_trainer(cfg.task.type)(cfg, reporter, Context())
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, field_validator, model_validator

from contract.config import FROZEN
from data.config import DataConfig
from models.spec import ModelSpec
from trainers.tasks import TASKS, LMTask, TaskConfig
from trainers.train_split import train_size


class AnyTrialConfig(Protocol):
    """What the planner and the runner ask of a trial config of either kind: `TrialConfig`
    (the trainers' tasks) or `rl.config.RLTrialConfig` (`task: {type: rl}`). Both implement it,
    so only `sweeps.spec.sweep_spec` needs to tell them apart."""

    model: ModelSpec
    task: Any
    """The task section: its `type`, and the class attribute `init_from_tasks`."""
    seed: int

    def counts(self) -> tuple[int, int, int]:
        """(params, params_total, forward FLOPs per token) of what the trial trains."""
        ...

    def train_size(self) -> int | None:
        """Size of the training split in the unit `num_tokens` takes; None if it has none."""
        ...

    def num_tokens(self, train_tokens: int) -> int:
        """Data the trial consumes (tokens, samples or env steps) given its split's size."""
        ...

    def model_dump(self, **kwargs: Any) -> dict[str, Any]: ...


class OptimConfig(BaseModel):
    """AdamW with decoupled weight decay and a warmup + decay learning-rate schedule.

    With `schedule: wsd` and `cooldowns`, one run yields several scaling-law points: at each
    listed fraction f of the token budget, a branch forked from the stable phase decays so
    that it ends at f x the budget (see trainers.cooldown); the run itself ends with the same
    decay, so every point, the final one included, has the same shape of schedule.
    """

    model_config = FROZEN

    lr: float = Field(3e-3, gt=0)
    """Peak learning rate."""
    weight_decay: float = Field(0.1, ge=0)
    """Decoupled (AdamW) weight decay, applied to matrices only, not to norms."""
    beta1: float = Field(0.9, ge=0, lt=1)
    """Adam first-moment decay."""
    beta2: float = Field(0.95, ge=0, lt=1)
    """Adam second-moment decay."""
    eps: float = Field(1e-8, gt=0)
    """Adam epsilon."""
    grad_clip: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this value; null disables clipping."""
    schedule: Literal["cosine", "wsd", "constant"] = "cosine"
    """Shape after warmup: cosine to min_lr_ratio, warmup-stable-decay, or constant."""
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    """Fraction (0-1) of the trial's steps spent warming up linearly from 0."""
    cooldown_fraction: float = Field(0.2, gt=0, lt=1)
    """wsd only: fraction (0-1) of a run's (or a cooldown branch's) steps spent in its final
    linear decay to min_lr_ratio."""
    cooldowns: tuple[float, ...] = ()
    """wsd only: fractions (0-1] of the token budget where a cooldown branch ends and is
    evaluated as its own point, e.g. [0.25, 0.5, 1.0]; sorted, unique. The run's own decay
    is always the last point (listing 1.0 is optional). Empty: one point per run."""
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    """Final learning rate as a fraction of lr (cosine and wsd)."""

    @field_validator("cooldowns")
    @classmethod
    def _cooldowns_in_order(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        bad = [f for f in value if not 0 < f <= 1]
        if bad:
            raise ValueError(f"every cooldown must be a fraction in (0, 1], got {bad[0]}")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"cooldowns must be sorted and unique, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _cooldowns_fit_schedule(self) -> OptimConfig:
        if not self.cooldowns:
            return self
        if self.schedule != "wsd":
            raise ValueError(
                f"optim.cooldowns: cooldown branches need schedule: wsd, got {self.schedule}"
            )
        # A branch forks at (1 - cooldown_fraction) x its end; forking inside the warmup
        # would decay from a learning rate the stable phase never reached.
        fork = (1 - self.cooldown_fraction) * self.cooldowns[0]
        if fork < self.warmup_fraction:
            raise ValueError(
                f"optim.cooldowns: the first cooldown ({self.cooldowns[0]}) forks at "
                f"{fork:.3g} of the run, inside the warmup (warmup_fraction "
                f"{self.warmup_fraction})"
            )
        return self

    def warmup_steps(self, total_steps: int) -> int:
        """Steps of linear warmup in a run of `total_steps` (its branches share them)."""
        return int(self.warmup_fraction * total_steps)

    def decay_start(self, end_step: int) -> int:
        """wsd: the step where the decay that ends at `end_step` begins."""
        return end_step - int(self.cooldown_fraction * end_step)

    def lr_at(self, step: int, total_steps: int, end_step: int | None = None) -> float:
        """Learning rate for optimizer step `step` (0-based) of a run of `total_steps`.

        `end_step` (wsd only) is where a cooldown branch of that run ends: the branch shares
        the run's warmup and stable phase and decays over the last cooldown_fraction of its
        own `end_step` steps. None means the run's own end.
        """
        warmup = self.warmup_steps(total_steps)
        if step < warmup:
            return self.lr * (step + 1) / warmup
        if self.schedule == "constant":
            return self.lr
        floor = self.lr * self.min_lr_ratio
        if self.schedule == "cosine":
            progress = (step - warmup) / max(1, total_steps - warmup)
            return floor + (self.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        end = total_steps if end_step is None else end_step
        decay_start = self.decay_start(end)
        if step < decay_start:
            return self.lr
        progress = (step - decay_start) / max(1, end - decay_start)
        return self.lr - (self.lr - floor) * min(1.0, progress)


class TrainerConfig(BaseModel):
    """How long and how a trial trains (the training method is the run config's `task:`)."""

    model_config = FROZEN

    batch_size: int = Field(16, gt=0)
    """Sequences per micro-batch on each worker."""
    grad_accum_steps: int = Field(1, gt=0)
    """Micro-batches accumulated into one optimizer step."""
    epochs: float = Field(1.0, gt=0)
    """Passes over the trial's (fraction-sampled) training split."""
    max_tokens: int | None = Field(None, gt=0)
    """Cap on training tokens (samples for regression and diffusion) per trial; null = epochs
    x the training split."""
    eval_interval_steps: int | None = Field(None, gt=0)
    """Evaluate (and report and checkpoint) every this many steps; null = 10 times a trial."""
    eval_tokens: int = Field(65_536, gt=0)
    """Held-out tokens (samples for regression and diffusion) scored at each evaluation (the
    same ones every time; for token data, windows spread evenly over the held-out split)."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16 runs the forward and backward under torch.autocast; weights stay fp32."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """auto picks CUDA, then MPS, then CPU."""
    keep_checkpoints: bool = True
    """Keep latest/best/final checkpoints in the trial folder (latest is always kept for resume)."""
    compile: bool | Literal["auto"] = "auto"
    """torch.compile the model for training: true, false, or auto (on a GPU, for trials long
    enough to repay the compile; on a CPU, after timing the first eager steps, when the steps
    left would save more than this host's measured compile cost: see trainers.compile_auto).
    Results match eager training to float rounding."""

    @model_validator(mode="before")
    @classmethod
    def _task_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "task" in data:
            raise ValueError(f"trainer.task is gone: write task: {{type: {data['task']}}} instead")
        return data


class TrialConfig(BaseModel):
    """Everything one trial needs: the resolved point of a sweep."""

    model_config = FROZEN

    model: ModelSpec = ModelSpec()
    """Model family and size (a preset name) plus field overrides."""
    data: DataConfig = DataConfig()
    """Dataset, tokenizer and the data-fraction sample."""
    optim: OptimConfig = OptimConfig()
    """Optimizer and learning-rate schedule."""
    trainer: TrainerConfig = TrainerConfig()
    """Budget, batching, evaluation cadence and numerics."""
    task: TaskConfig = LMTask()
    """Training method and its options, selected by `type:` (lm, mlm, regression, diffusion,
    classify); see trainers.tasks."""
    seed: int = 0
    """Replicate seed: model initialisation and batch order."""

    @model_validator(mode="before")
    @classmethod
    def _known_task(cls, data: Any) -> Any:
        # Name the valid types ourselves: the discriminated union's own message lists them
        # as a Python literal, and a missing task is plain lm.
        task = data.get("task") if isinstance(data, dict) else None
        name = task.get("type", "lm") if isinstance(task, dict) else None
        if name is not None and name not in TASKS:
            raise ValueError(
                f"task.type {name!r} is not a known task; valid: {', '.join(sorted(TASKS))}"
            )
        if isinstance(task, dict) and "type" not in task:
            data = {**data, "task": {**task, "type": "lm"}}
        return data

    @model_validator(mode="after")
    def _model_resolves(self) -> TrialConfig:
        # Fail at load time, with the field named, rather than inside a trial on a worker.
        self.model.resolve(vocab_size=self.data.vocab_size)
        wanted = self.task.family
        if self.model.family != wanted:
            raise ValueError(
                f"model.size: the {self.task.type} task trains a {wanted} model, "
                f"got {self.model.size} ({self.model.family})"
            )
        self.model_config_resolved()
        return self

    def model_config_resolved(self):
        """The concrete model config: preset + overrides, vocab from the tokenizer, then what
        the task implies (an encoder with a [MASK] id for mlm, the denoiser's widths for
        diffusion)."""
        return self.task.resolve_model(
            self.model.resolve(vocab_size=self.data.vocab_size), self.model
        )

    def counts(self) -> tuple[int, int, int]:
        """(params, params_total, forward FLOPs per token) of the model the task trains,
        analytically (a classifier: its backbone without the LM head, plus its head)."""
        return self.task.counts(self.model_config_resolved())

    def train_size(self) -> int:
        """Size of the trial's training split, in the unit `num_steps` and `num_tokens` take:
        tokens for lm, mlm and classify (sequences x seq_len), samples for regression and
        diffusion. Token tasks may tokenize the corpus once (then cached)."""
        return train_size(self)

    @property
    def seq_len(self) -> int:
        """Tokens per sequence (1 for models without a sequence axis)."""
        return getattr(self.model_config_resolved(), "seq_len", 1)

    def tokens_per_step(self, world_size: int = 1) -> int:
        """Tokens consumed by one optimizer step across all data-parallel workers."""
        t = self.trainer
        return t.batch_size * t.grad_accum_steps * self.seq_len * world_size

    def num_steps(self, train_tokens: int, world_size: int = 1) -> int:
        """Optimizer steps this trial takes given the size of its training split
        (`train_size()`: tokens, or samples for regression and diffusion)."""
        budget = self.trainer.epochs * train_tokens
        if self.trainer.max_tokens is not None:
            budget = min(budget, self.trainer.max_tokens)
        return max(1, int(budget // self.tokens_per_step(world_size)))

    def num_tokens(self, train_tokens: int, world_size: int = 1) -> int:
        """Training tokens (samples for regression and diffusion) this trial consumes (whole
        steps only)."""
        return self.num_steps(train_tokens, world_size) * self.tokens_per_step(world_size)
