"""Classification fine-tuning: a transformer backbone plus a pooled linear head learns which
of task.num_classes Markov sources wrote each sequence, reporting loss and accuracy.

The backbone starts fresh or from an upstream trial's checkpoint (task.init_from: LM, MLM or
classify), and trains fully, frozen (head only; backbone bit-identical) or through LoRA
adapters; an EMA of the weights can be evaluated instead of the raw ones. `tokens` counts
sequences x seq_len.

    task = {"type": "classify", "num_classes": 4, "init_from": "runs/pre/checkpoints/final"}
    final = train(TrialConfig(model=ModelSpec(size="gpt-50k"), task=task), ListReporter())
    print(final["eval/accuracy"], final["eval/loss"])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from contract.metrics import EVAL_ACCURACY, EVAL_LOSS
from data.config import SyntheticConfig
from data.labelled import markov_sources
from data.synthetic import transition_matrix
from models import count_params
from models.heads import SequenceModel, sequence_model_flops_per_token
from trainers.checkpoint import load_state, upstream_checkpoint
from trainers.config import TrialConfig
from trainers.loop import run
from trainers.lora import apply_lora
from trainers.method import Batch, ModelCounts
from trainers.reporter import Context, Reporter
from trainers.sampled import SampleMethod
from trainers.tasks import ClassifyTask


def backbone_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The transformer weights of a checkpoint's model, without any LM or task head.

    LM/MLM checkpoints hold a GPT (keys tok_emb..., lm_head...); classify checkpoints hold a
    SequenceModel (keys backbone..., head...).
    """
    weights = state["model"]
    if any(key.startswith("backbone.") for key in weights):
        weights = {
            k.removeprefix("backbone."): v for k, v in weights.items() if k.startswith("backbone.")
        }
    return {k: v for k, v in weights.items() if not k.startswith("lm_head.")}


def _upstream_causal(state: dict[str, Any]) -> bool | None:
    """Whether the upstream trial's backbone was causal (an MLM encoder is not), if known."""
    try:
        upstream = TrialConfig.model_validate_json(state["config"])
    except (KeyError, ValueError):
        return None
    return getattr(upstream.model_config_resolved(), "causal", None)


def _base_table(cfg: TrialConfig) -> dict[str, Any]:
    """The sources' shared table: the pretraining language's own when it is synthetic."""
    ds = cfg.data.dataset
    if isinstance(ds, SyntheticConfig):
        table = transition_matrix(ds.vocab_size, ds.order, ds.concentration, ds.seed)
        return {"order": ds.order, "base": table}
    return {"order": cfg.task.order, "base": None}


class ClassifyMethod(SampleMethod):
    """Labelled sequences (data.labelled.markov_sources) and a SequenceModel on them."""

    def __init__(self, cfg: TrialConfig, ctx: Context, device: torch.device) -> None:
        self.task: ClassifyTask = cfg.task
        task = self.task
        backbone = cfg.model_config_resolved()
        self.upstream: dict[str, torch.Tensor] | None = None
        if task.init_from is not None:
            state = load_state(upstream_checkpoint(task.init_from))
            self.upstream = backbone_weights(state)
            # The upstream task decides two things that are not visible in the weights' names:
            # extra vocabulary rows (the MLM [MASK] id) and whether attention is causal.
            update: dict[str, Any] = {"vocab_size": self.upstream["tok_emb.weight"].shape[0]}
            causal = _upstream_causal(state)
            if causal is not None:
                update["causal"] = causal
            backbone = backbone.model_copy(update=update)
        self.backbone_cfg = backbone
        self.ema_decay = task.ema_decay
        data = markov_sources(
            vocab_size=cfg.data.vocab_size,
            seq_len=backbone.seq_len,
            num_classes=task.num_classes,
            num_sequences=task.num_sequences,
            separation=task.separation,
            concentration=task.concentration,
            seed=task.data_seed,
            **_base_table(cfg),
        )
        super().__init__(cfg, ctx, device, tensors=(data.tokens, data.labels))

    def build_model(self) -> SequenceModel:
        task = self.task
        model = SequenceModel(self.backbone_cfg, task.num_classes, task.pooling)
        if self.upstream is not None:
            try:
                model.backbone.load_state_dict(self.upstream, strict=True)
            except RuntimeError as err:
                detail = " ".join(str(err).split())
                raise ValueError(
                    f"task.init_from: {task.init_from} does not fit a {self.cfg.model.size} "
                    f"backbone: {detail}"
                ) from None
        if task.freeze_backbone:
            model.backbone.requires_grad_(False)
        if task.lora is not None:
            apply_lora(model.backbone, task.lora)
        return model

    def counts(self, model: nn.Module) -> ModelCounts:
        return ModelCounts(
            params=count_params(model, exclude=("backbone.tok_emb.",)),
            params_total=count_params(model),
            flops_per_token=sequence_model_flops_per_token(
                self.backbone_cfg, self.task.num_classes
            ),
        )

    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y = batch  # (B, T), (B,)
        return F.cross_entropy(model(x), y)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        total, correct, count = 0.0, 0, 0
        for x, y in self.eval_chunks():
            logits = model(x).float()  # (n, K)
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=-1) == y).sum())
            count += len(y)
        return {EVAL_LOSS: total / count, EVAL_ACCURACY: correct / count}


# Context is a frozen dataclass, so one shared default instance is safe.
def train(cfg: TrialConfig, reporter: Reporter, ctx: Context = Context()) -> dict[str, float]:  # noqa: B008
    """Fine-tune one classifier as `cfg` says; returns the final report's metrics."""
    return run(cfg, reporter, ctx, ClassifyMethod)
