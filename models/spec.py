"""The ``model:`` section of a sweep YAML: a preset name (or a parameter count) plus overrides.

Every override left at None keeps the preset's value, so a sweep's size axis can swap ``size``
while the overrides stay put. ``params`` asks for a GPT of about that many non-embedding
parameters instead of a preset (shape by ``models.shapes``), so a size axis can run between
presets. ``resolve`` turns the section into a concrete model config.

    spec = ModelSpec(size="gpt-1m", dropout=0.1)
    cfg = spec.resolve(vocab_size=512)  # GPTConfig with vocab_size=512, dropout=0.1
    ModelSpec(params=3.0e5).label       # "gpt-n303k" (the derived shape's own count)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator, model_validator

from contract.config import FROZEN
from models.gpt import GPTConfig
from models.mlp import MLPConfig
from models.presets import PRESETS, canonical_name, from_name
from models.shapes import gpt_shape, shape_label

DEFAULT_SIZE = "gpt-1m"
_OVERRIDES = (
    "d_model",
    "n_layers",
    "n_heads",
    "n_kv_heads",
    "d_ff",
    "seq_len",
    "dropout",
    "tie_embeddings",
    "d_in",
    "d_out",
    "activation",
    "causal",
)


class ModelSpec(BaseModel):
    """Which model a trial trains: a size preset (or alias) and per-field overrides."""

    model_config = FROZEN

    size: str = DEFAULT_SIZE
    """Preset name (gpt-20k ... gpt-10m, mlp-1k ... mlp-1m) or alias: tiny, small, medium, large."""
    params: float | None = None
    """A GPT of about this many non-embedding parameters (shape by models.shapes) instead of
    the preset; overrides still apply on top. None uses `size`."""
    d_model: int | None = None
    """Override: residual / hidden width (features); None keeps the preset's value."""
    n_layers: int | None = None
    """Override: transformer blocks or MLP hidden layers; None keeps the preset's value."""
    n_heads: int | None = None
    """Override (gpt): attention query heads; None keeps the preset's value."""
    n_kv_heads: int | None = None
    """Override (gpt): key/value heads (grouped-query attention); None keeps the preset's."""
    d_ff: int | None = None
    """Override (gpt): SwiGLU hidden width (features); None keeps the preset's value."""
    seq_len: int | None = None
    """Override (gpt): context length (tokens); None keeps the preset's value (128)."""
    dropout: float | None = None
    """Override: dropout probability (0-1); None keeps the preset's value (0.0)."""
    tie_embeddings: bool | None = None
    """Override (gpt): share embedding and output head; None keeps the preset's value (False)."""
    d_in: int | None = None
    """Override (mlp): input features per sample; None keeps the preset's value (16)."""
    d_out: int | None = None
    """Override (mlp): output features per sample; None keeps the preset's value (1)."""
    activation: str | None = None
    """Override (mlp): relu, gelu, silu or tanh; None keeps the preset's value (gelu)."""
    causal: bool | None = None
    """Override (gpt): False makes a bidirectional encoder; None keeps the preset's value (True)."""

    @field_validator("size")
    @classmethod
    def _known_size(cls, size: str) -> str:
        canonical_name(size)
        return size

    @model_validator(mode="after")
    def _size_or_params(self) -> ModelSpec:
        # Compared with the default rather than "was it set", so a dumped and reloaded spec
        # (which writes size back) still loads.
        if self.params is not None and self.size != DEFAULT_SIZE:
            raise ValueError("model.params and model.size both set; choose one")
        return self

    @model_validator(mode="after")
    def _resolves(self) -> ModelSpec:
        # Resolve once here so a bad override fails when the sweep YAML loads, not in a trial.
        self.resolve()
        return self

    @property
    def overrides(self) -> dict[str, Any]:
        """The fields set to something other than None, i.e. what differs from the preset."""
        return {k: getattr(self, k) for k in _OVERRIDES if getattr(self, k) is not None}

    @property
    def preset(self) -> str:
        """The canonical preset name (aliases resolved)."""
        return canonical_name(self.size)

    @property
    def family(self) -> str:
        """Model family of the preset: "gpt" or "mlp" (a size by `params` is always gpt)."""
        return "gpt" if self.params is not None else PRESETS[self.preset]().type

    @property
    def label(self) -> str:
        """Readable size name for tags and tables: the preset, or e.g. gpt-n303k, named by the
        derived model's own count (not the target), so the name never misstates N."""
        return self.size if self.params is None else shape_label(self.resolve().num_params)

    def resolve(self, vocab_size: int | None = None) -> GPTConfig | MLPConfig:
        """The concrete config: preset, then overrides, then ``vocab_size`` where the family
        has one (the tokenizer decides it at run time), validated as a whole."""
        overrides = self.overrides
        if vocab_size is not None and self.family == "gpt":
            overrides["vocab_size"] = vocab_size
        if self.params is not None:
            # The derived shape enters as overrides of a GPT preset, so user overrides (which
            # come after) and validation behave exactly as for a preset.
            return from_name("gpt-1m", **{**gpt_shape(self.params), **overrides})
        return from_name(self.size, **overrides)
