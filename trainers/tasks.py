"""The `task:` section of a trial config: which training method runs, with its own options.

Polymorphic on `type` (lm, mlm, regression, diffusion, classify); `TASKS` maps each type to
its config class, and is the one registry of tasks: a new task is a class here (its options,
model family and `loop` module) plus that module. A task also says which model family it
trains, how it adapts the resolved model config (an encoder for mlm, the denoiser's input width
for diffusion), what it counts of the model it trains, whether it trains on the data section's
corpus or on a set it generates (`trainers.train_split` measures either), and which tasks'
checkpoints its `init_from` may start from. Nothing here reads data.

    TrialConfig(model=ModelSpec(size="gpt-50k"), task={"type": "mlm", "mask_rate": 0.15})
    ClassifyTask(num_classes=4, lora=LoRAConfig(rank=4, target_modules=("wq", "wv")))
    DiffusionTask(schedule="cosine").alpha_bar_final       # signal left at the last step
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from contract.config import FROZEN
from models.gpt import GPTConfig
from models.heads import sequence_model_flops_per_token, sequence_model_params
from models.mlp import MLPConfig

if TYPE_CHECKING:
    from models.spec import ModelSpec

LORA_TARGETS = ("wq", "wk", "wv", "wo", "gate", "up", "down")
"""Names of the GPT blocks' Linear layers that LoRA adapters can wrap."""
MAX_ALPHA_BAR_FINAL = 0.05
"""Largest signal fraction alpha_bar left at a diffusion schedule's last step: sampling starts
from pure noise, so more than this makes training and sampling disagree."""


class _Task(BaseModel):
    """What every task config offers the run config."""

    model_config = FROZEN
    family: ClassVar[str] = "gpt"
    """Model family the task trains."""
    init_from_tasks: ClassVar[tuple[str, ...]] = ()
    """Task types whose checkpoints `task.init_from` may start this task from (none: the task
    has no init_from)."""
    loop: ClassVar[str]
    """Module whose `train(cfg, reporter, ctx)` runs the task (imported when a trial runs, so
    the config classes stay importable without the loops)."""

    def resolve_model(
        self, model_cfg: GPTConfig | MLPConfig, spec: ModelSpec
    ) -> GPTConfig | MLPConfig:
        """The model config the task actually builds, from the preset + overrides."""
        return model_cfg

    @property
    def generated_samples(self) -> int | None:
        """Samples (or sequences) of the data set the task generates; None: it trains on the
        data section's corpus."""
        return None

    def counts(self, model_cfg: GPTConfig | MLPConfig) -> tuple[int, int, int]:
        """(params, params_total, forward FLOPs per token) of the model the task trains,
        analytically: the planner's row and the trainer's reports must agree."""
        return model_cfg.num_params, model_cfg.num_params_total, model_cfg.flops_per_token


def absolute_path(path: str | None) -> str | None:
    """`path` made absolute (user folder expanded); None stays None."""
    # Trials run in other processes and folders; pin the path to where it was given.
    return None if path is None else os.path.abspath(os.path.expanduser(path))


class _PretrainTask(_Task):
    """A pretraining task that can continue from an earlier run of the same task."""

    # Left out of the serialised config when unset, so configs (and so trial ids and sweep
    # fingerprints) written before this field existed stay the same.
    init_from: str | None = Field(None, exclude_if=lambda path: path is None)
    """Checkpoint folder of an upstream run of the same task and model (its checkpoints/final,
    best or latest, or the trial folder itself, meaning its final checkpoint) whose full model
    weights start training (continued pretraining, with a fresh optimizer and schedule);
    null = freshly initialised weights."""

    @field_validator("init_from", mode="after")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        return absolute_path(path)


class LMTask(_PretrainTask):
    """Next-token language-model pretraining (causal transformer)."""

    loop: ClassVar[str] = "trainers.lm"
    init_from_tasks: ClassVar[tuple[str, ...]] = ("lm",)

    type: Literal["lm"] = "lm"
    """Task kind."""


class MLMTask(_PretrainTask):
    """Masked-language-model pretraining: a bidirectional encoder predicts masked tokens.

    Each position is chosen with probability mask_rate; a chosen token becomes the [MASK] id
    (one extra vocabulary id, data.vocab_size) with probability mask_token_fraction, a random
    token with probability random_token_fraction, and stays itself otherwise (BERT's 80/10/10).
    The loss is the cross-entropy on chosen positions only.
    """

    loop: ClassVar[str] = "trainers.mlm"
    init_from_tasks: ClassVar[tuple[str, ...]] = ("mlm",)
    type: Literal["mlm"] = "mlm"
    """Task kind."""
    mask_rate: float = Field(0.15, gt=0, lt=1)
    """Fraction (0-1) of positions chosen for prediction."""
    mask_token_fraction: float = Field(0.8, ge=0, le=1)
    """Fraction (0-1) of chosen positions replaced by the [MASK] id."""
    random_token_fraction: float = Field(0.1, ge=0, le=1)
    """Fraction (0-1) of chosen positions replaced by a uniformly random token."""

    @model_validator(mode="after")
    def _fractions(self) -> MLMTask:
        if self.mask_token_fraction + self.random_token_fraction > 1:
            raise ValueError(
                "task.random_token_fraction: mask_token_fraction + random_token_fraction "
                f"must be <= 1, got {self.mask_token_fraction + self.random_token_fraction:g}"
            )
        return self

    def resolve_model(
        self, model_cfg: GPTConfig | MLPConfig, spec: ModelSpec
    ) -> GPTConfig | MLPConfig:
        if spec.causal:
            raise ValueError("model.causal: the mlm task trains a bidirectional encoder")
        # One extra id, data.vocab_size, is the [MASK] token.
        return model_cfg.model_copy(
            update={"causal": False, "vocab_size": model_cfg.vocab_size + 1}
        )


class _SampleTask(_Task):
    """A task whose data is a generated set of samples, so `tokens` counts samples."""

    family: ClassVar[str] = "mlp"
    num_samples: int = Field(16_384, ge=2)
    """Samples generated (before the holdout split and the data.fraction sample)."""
    data_seed: int = Field(0, ge=0)
    """Seed of the generated data set itself (not of the split, which is data.seed)."""

    @property
    def generated_samples(self) -> int:
        return self.num_samples


class RegressionTask(_SampleTask):
    """Regression pretraining of an MLP on a generated smooth function of model.d_in Gaussian
    inputs (model.d_out outputs); the loss is the MSE, whose floor is noise**2."""

    loop: ClassVar[str] = "trainers.regression"

    type: Literal["regression"] = "regression"
    """Task kind."""
    target: Literal["fourier", "teacher"] = "fourier"
    """fourier: a sum of random sinusoids; teacher: a random one-hidden-layer tanh network."""
    num_components: int = Field(32, gt=0)
    """Random sinusoids (fourier) or hidden units (teacher) of the target function."""
    noise: float = Field(0.1, ge=0)
    """Standard deviation of the Gaussian noise on the unit-variance targets."""


class DiffusionTask(_SampleTask):
    """DDPM pretraining: an MLP denoiser predicts the noise added to 2-D points at a random
    step of a fixed noise schedule; a few samples are drawn at the end as an artefact.

    The model's d_in (2 + time_embed_dim) and d_out (2) follow from the data, so model.d_in
    and model.d_out must not be set.
    """

    loop: ClassVar[str] = "trainers.diffusion"

    type: Literal["diffusion"] = "diffusion"
    """Task kind."""
    dataset: Literal["moons", "gaussians", "swiss_roll"] = "moons"
    """2-D point cloud to learn (one of data.continuous.POINT_CLOUDS)."""
    noise: float = Field(0.05, ge=0)
    """Standard deviation of the jitter in the generated cloud (before standardisation)."""
    num_timesteps: int = Field(100, ge=2)
    """Diffusion steps T of the forward (noising) process and of ancestral sampling."""
    schedule: Literal["linear", "cosine"] = "linear"
    """linear: betas evenly from beta_start to beta_end; cosine: alpha_bar follows a squared
    cosine (Nichol & Dhariwal 2021) and the betas are ignored."""
    beta_start: float = Field(1e-4, gt=0, lt=1)
    """linear only: noise variance added at the first step."""
    beta_end: float = Field(0.1, gt=0, lt=1)
    """linear only: noise variance added at the last step."""
    time_embed_dim: int = Field(16, ge=2)
    """Width (features) of the sinusoidal timestep embedding fed to the denoiser."""
    num_samples_at_end: int = Field(512, ge=0)
    """Points drawn by ancestral sampling after training (trial_dir/samples.csv, .png); 0 = none."""

    @model_validator(mode="after")
    def _schedule(self) -> DiffusionTask:
        if self.schedule == "linear" and self.beta_start >= self.beta_end:
            raise ValueError(
                f"task.beta_end ({self.beta_end:g}) must exceed task.beta_start "
                f"({self.beta_start:g})"
            )
        if self.alpha_bar_final > MAX_ALPHA_BAR_FINAL:
            raise ValueError(
                f"task.beta_end: the schedule keeps alpha_bar={self.alpha_bar_final:.3g} of the "
                f"signal at the last step (max {MAX_ALPHA_BAR_FINAL}); raise beta_end or "
                "num_timesteps"
            )
        return self

    @property
    def data_dim(self) -> int:
        """Dimensions of one data point."""
        return 2

    @property
    def alpha_bar_final(self) -> float:
        """Fraction of the signal's variance left after all num_timesteps noising steps."""
        if self.schedule == "cosine":
            return 0.0
        t = self.num_timesteps
        betas = [
            self.beta_start + (self.beta_end - self.beta_start) * i / (t - 1) for i in range(t)
        ]
        return math.prod(1 - b for b in betas)

    def resolve_model(
        self, model_cfg: GPTConfig | MLPConfig, spec: ModelSpec
    ) -> GPTConfig | MLPConfig:
        if spec.d_in is not None or spec.d_out is not None:
            raise ValueError(
                "model.d_in: the diffusion task sets d_in (2 + task.time_embed_dim) and d_out "
                "(2) itself; remove model.d_in and model.d_out"
            )
        update = {"d_in": self.data_dim + self.time_embed_dim, "d_out": self.data_dim}
        return MLPConfig.model_validate({**model_cfg.model_dump(), **update})


class LoRAConfig(BaseModel):
    """Low-rank adapters: W x + (alpha / rank) * B A x on the named Linear layers, with W
    frozen, A random and B zero at the start (so training starts from the backbone)."""

    model_config = FROZEN

    rank: int = Field(8, gt=0)
    """Rank r of each adapter (inner width of A: r x d_in and B: d_out x r)."""
    alpha: float = Field(16.0, gt=0)
    """Scale numerator: the adapter's output is multiplied by alpha / rank."""
    target_modules: tuple[str, ...] = ("wq", "wv")
    """Names of the Linear layers in every block to adapt (wq, wk, wv, wo, gate, up, down)."""

    @field_validator("target_modules")
    @classmethod
    def _known_targets(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in names if n not in LORA_TARGETS]
        if unknown or not names:
            raise ValueError(
                f"task.lora.target_modules: {unknown[0] if unknown else 'empty list'} is not "
                f"a Linear layer of a block; valid: {', '.join(LORA_TARGETS)}"
            )
        return names


def _block_linear_shapes(cfg: GPTConfig) -> dict[str, tuple[int, int]]:
    """(in, out) features of each Linear layer of one GPT block, by attribute name."""
    d, kv, ff = cfg.d_model, cfg.kv_heads * cfg.head_dim, cfg.d_ff
    return {
        "wq": (d, d), "wk": (d, kv), "wv": (d, kv), "wo": (d, d),
        "gate": (d, ff), "up": (d, ff), "down": (ff, d),
    }  # fmt: skip


class ClassifyTask(_Task):
    """Fine-tuning a transformer backbone with a pooled linear head to tell which of
    num_classes Markov sources wrote each sequence (data.labelled).

    The sources share a base table (the pretraining language's own when data.dataset is
    synthetic, else a fresh one) mixed with a table of their own by `separation`.
    """

    loop: ClassVar[str] = "trainers.classify"
    init_from_tasks: ClassVar[tuple[str, ...]] = ("lm", "mlm", "classify")
    type: Literal["classify"] = "classify"
    """Task kind."""
    num_classes: int = Field(4, ge=2)
    """Number of classes (Markov sources)."""
    pooling: Literal["mean", "last"] = "mean"
    """Pool the backbone's features by their mean over positions, or take the last position."""
    freeze_backbone: bool = False
    """Train the head only; the backbone's weights stay bit-identical."""
    lora: LoRAConfig | None = None
    """Low-rank adapters on the backbone (which is then frozen); null = full fine-tuning."""
    ema_decay: float | None = Field(None, gt=0, lt=1)
    """Keep an exponential moving average of the trained weights with this decay per step and
    evaluate with it; null = no average."""
    init_from: str | None = None
    """Checkpoint folder of an upstream trial (its checkpoints/final, best or latest, or the
    trial folder itself, meaning its final checkpoint) whose backbone weights start the
    fine-tuning; null = a freshly initialised backbone."""
    num_sequences: int = Field(8192, ge=2)
    """Labelled sequences generated (before the holdout split and the data.fraction sample)."""
    separation: float = Field(0.5, gt=0, le=1)
    """How far (0-1] each class's source departs from the shared base: 1 = unrelated sources."""
    order: int = Field(1, ge=1)
    """Markov order of the sources when data.dataset is not synthetic (else the language's)."""
    concentration: float = Field(0.5, gt=0)
    """Dirichlet alpha of the sources' own transition rows (small = peaky)."""
    data_seed: int = Field(0, ge=0)
    """Seed of the generated labelled set (not of the split, which is data.seed)."""

    @field_validator("init_from", mode="after")
    @classmethod
    def _absolute(cls, path: str | None) -> str | None:
        return absolute_path(path)

    def counts(self, model_cfg: GPTConfig | MLPConfig) -> tuple[int, int, int]:
        # The trained model is the backbone without its LM head, plus the pooled head and any
        # LoRA adapters, not the bare preset.
        assert isinstance(model_cfg, GPTConfig)
        params, total = sequence_model_params(model_cfg, self.num_classes)
        if self.lora is not None:
            adapters = model_cfg.n_layers * sum(
                self.lora.rank * (d_in + d_out)
                for name, (d_in, d_out) in _block_linear_shapes(model_cfg).items()
                if name in self.lora.target_modules
            )
            params, total = params + adapters, total + adapters
        return params, total, sequence_model_flops_per_token(model_cfg, self.num_classes)

    @model_validator(mode="after")
    def _one_way_to_freeze(self) -> ClassifyTask:
        if self.lora is not None and self.freeze_backbone:
            raise ValueError(
                "task.freeze_backbone: LoRA already freezes the backbone's weights; "
                "set freeze_backbone: false or lora: null"
            )
        return self

    @property
    def generated_samples(self) -> int:
        return self.num_sequences


TaskConfig = Annotated[
    LMTask | MLMTask | RegressionTask | DiffusionTask | ClassifyTask, Field(discriminator="type")
]
"""Any task's config; `type` selects the class."""

TASKS: dict[str, type[_Task]] = {
    cls.model_fields["type"].default: cls
    for cls in (LMTask, MLMTask, RegressionTask, DiffusionTask, ClassifyTask)
}
"""Task config classes by their `type` name."""
CONTINUABLE_TASKS: tuple[str, ...] = tuple(
    name for name, cls in TASKS.items() if issubclass(cls, _PretrainTask)
)
"""Tasks whose runs continue from an earlier run of the same task and model (continued
pretraining through task.init_from): `sweeps.new --continue` offers only these."""
