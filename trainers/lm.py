"""Language-model pretraining loop: one trial from a RunConfig, without Ray.

Builds the data and the model, trains with AdamW and the config's learning-rate schedule,
evaluates on a fixed held-out slice, and at every evaluation reports all standard metrics and
writes a resumable checkpoint. Ray Train runs this same function on each worker.

    reporter = ListReporter()
    final = train(RunConfig(model=ModelSpec(size="gpt-50k")), reporter)
    print(final["eval/loss"], len(reporter.reports))

Distributed runs: every rank trains on its shard of the data, evaluates and calls
`reporter.report` at the same steps (Ray Train's report is a collective); only rank 0 writes
checkpoints and passes a checkpoint folder. `train/loss` is rank 0's own mean loss.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from data import build as build_data
from data import random_windows, sequential_windows, shard
from models import training_flops
from sweeps.metrics import (
    DONE,
    EVAL_LOSS,
    FLOPS,
    LR,
    PARAMS,
    PARAMS_TOTAL,
    STEP,
    TOKENS,
    TOKENS_PER_S,
    TRAIN_LOSS,
    TRAIN_TIME_S,
)
from trainers import runtime
from trainers.checkpoint import CheckpointManager, load_state
from trainers.config import OptimConfig, RunConfig
from trainers.reporter import Context, Reporter, TrialDiverged

DIVERGENCE_CHECK_STEPS = 8
"""Steps between NaN/inf checks of the train loss; each check syncs the device once, and the
step it names is exact however many steps it looks back over."""


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices (dim >= 2) only, never on norm gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    kwargs: dict[str, Any] = {"lr": cfg.lr, "betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps}
    try:
        # One fused kernel per step beats per-tensor launches, which dominate at small sizes.
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except RuntimeError:
        return torch.optim.AdamW(groups, foreach=True, **kwargs)


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], precision: str
) -> float:
    """Mean next-token cross-entropy (nats per token) of `model` over `batches`."""
    was_training = model.training
    model.eval()
    device = batches[0][0].device
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for x, y in batches:
        with runtime.autocast(device, precision):
            logits = model(x)  # (B, T, V)
        total += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), reduction="sum")
        count += y.numel()
    model.train(was_training)
    return total.item() / count


def _eval_batches(
    held_out: torch.Tensor, cfg: RunConfig, seq_len: int, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    tokens = held_out[: cfg.trainer.eval_tokens]
    if len(tokens) < seq_len + 1:
        raise ValueError(
            f"trainer.eval_tokens: the held-out split gives {len(tokens)} tokens, "
            f"fewer than one sequence of {seq_len + 1}"
        )
    windows = sequential_windows(tokens, seq_len, cfg.trainer.batch_size)
    return [(x.to(device), y.to(device)) for x, y in windows]


def _first_nonfinite(pending: list[torch.Tensor]) -> tuple[int, float] | None:
    """Index and value of the first non-finite loss in `pending`, or None (one device sync)."""
    window = torch.stack(pending)
    finite = torch.isfinite(window)
    if bool(finite.all()):
        return None
    i = int((~finite).nonzero()[0, 0])
    return i, float(window[i])


# Context is a frozen dataclass, so one shared default instance is safe.
def train(cfg: RunConfig, reporter: Reporter, ctx: Context = Context()) -> dict[str, float]:  # noqa: B008
    """Train one language model as `cfg` says; returns the metrics of the final report.

    Resumes from `reporter.latest_checkpoint()` when it names a folder: the step, learning-rate
    schedule, batch order and token count continue exactly where that checkpoint left off.
    Raises TrialDiverged when the train loss becomes NaN or infinite.
    """
    runtime.set_threads(ctx.num_threads)
    device = runtime.pick_device(ctx.device, cfg.trainer.device)
    t = cfg.trainer
    tokens_per_step = cfg.tokens_per_step(ctx.world_size)
    splits = build_data(cfg.data, min_train_tokens=tokens_per_step)
    total_steps = cfg.num_steps(len(splits.train), ctx.world_size)
    train_tokens = shard(splits.train, ctx.rank, ctx.world_size)
    model_cfg = cfg.model_config_resolved()
    if splits.vocab_size > model_cfg.vocab_size:
        raise ValueError(
            f"data: the tokenizer has {splits.vocab_size} ids but the model's vocab_size is "
            f"{model_cfg.vocab_size}"
        )
    seq_len = model_cfg.seq_len
    eval_batches = _eval_batches(splits.eval, cfg, seq_len, device)
    interval = t.eval_interval_steps or max(1, total_steps // 10)

    runtime.seed_everything(cfg.seed)
    raw = model_cfg.build().to(device)
    optimizer = build_optimizer(raw, cfg.optim)
    batch_rng = runtime.batch_generator(cfg.seed)
    trial_dir = ctx.trial_dir
    if trial_dir is None and ctx.is_main:
        trial_dir = tempfile.mkdtemp(prefix="trial-")
    # Other ranks never write, so their manager's folder is never created.
    ckpts = CheckpointManager(Path(trial_dir or ".") / "checkpoints", keep=t.keep_checkpoints)
    step, train_time_s = 0, 0.0
    resume_dir = reporter.latest_checkpoint()
    if resume_dir is not None:
        state = load_state(resume_dir)
        if (state["total_steps"], state["tokens_per_step"]) != (total_steps, tokens_per_step):
            raise ValueError(
                f"checkpoint {resume_dir} is from a run of {state['total_steps']} steps x "
                f"{state['tokens_per_step']} tokens, not {total_steps} x {tokens_per_step}"
            )
        raw.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        runtime.restore_rng_state(state["rng"], batch_rng)
        step, train_time_s = state["step"], state["train_time_s"]
        ckpts.best_eval_loss = state["best_eval_loss"]
        if step >= total_steps:
            # The run had already finished; repeat its last report so the caller sees DONE.
            reporter.report(state["metrics"], checkpoint_dir=resume_dir if ctx.is_main else None)
            return state["metrics"]
    model = ctx.wrap_model(raw)
    model.train()

    params = [p for p in raw.parameters() if p.requires_grad]
    accum, batch_size, clip = t.grad_accum_steps, t.batch_size, cfg.optim.grad_clip
    pending: list[torch.Tensor] = []  # per-step losses not yet checked for NaN/inf
    loss_sum, loss_steps, last_report_step = 0.0, 0, step
    metrics: dict[str, float] = {}
    runtime.synchronize(device)
    t_start = time.perf_counter()
    while step < total_steps:
        lr = cfg.optim.lr_at(step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = None
        for micro in range(accum):
            x, y = random_windows(train_tokens, seq_len, batch_size, batch_rng)  # (B, T) each
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with runtime.maybe_no_sync(model, micro < accum - 1):
                with runtime.autocast(device, t.precision):
                    logits = model(x)  # (B, T, V)
                    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
                (loss / accum if accum > 1 else loss).backward()
            # Stays on the device: no sync per micro-step.
            step_loss = loss.detach() if step_loss is None else step_loss + loss.detach()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        pending.append(step_loss / accum if accum > 1 else step_loss)
        step += 1
        at_eval = step % interval == 0 or step == total_steps
        if len(pending) < DIVERGENCE_CHECK_STEPS and not at_eval:
            continue
        bad = _first_nonfinite(pending)
        if bad is not None:
            bad_step = step - len(pending) + bad[0]
            kind = "nan" if math.isnan(bad[1]) else "inf"
            lr_bad = cfg.optim.lr_at(bad_step, total_steps)
            raise TrialDiverged(f"loss became {kind} at step {bad_step} (lr={lr_bad:.3g})")
        loss_sum += float(torch.stack(pending).sum())
        loss_steps += len(pending)
        pending.clear()
        if not at_eval:
            continue

        runtime.synchronize(device)
        segment_s = time.perf_counter() - t_start
        train_time_s += segment_s
        tokens = step * tokens_per_step
        metrics = {
            STEP: step,
            TOKENS: tokens,
            PARAMS: model_cfg.num_params,
            PARAMS_TOTAL: model_cfg.num_params_total,
            FLOPS: training_flops(model_cfg, tokens),
            TRAIN_LOSS: loss_sum / loss_steps,
            EVAL_LOSS: evaluate(raw, eval_batches, t.precision),
            LR: lr,
            TRAIN_TIME_S: train_time_s,
            TOKENS_PER_S: (step - last_report_step) * tokens_per_step / max(segment_s, 1e-9),
        }
        if step == total_steps:
            metrics[DONE] = 1.0
        checkpoint_dir = None
        if ctx.is_main:
            checkpoint_dir = _save(ckpts, raw, optimizer, batch_rng, metrics, total_steps, cfg)
        reporter.report(metrics, checkpoint_dir=checkpoint_dir)
        loss_sum, loss_steps, last_report_step = 0.0, 0, step
        # Evaluation, checkpointing and reporting are not training time.
        t_start = time.perf_counter()
    return metrics


def _save(
    ckpts: CheckpointManager,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_rng: torch.Generator,
    metrics: dict[str, float],
    total_steps: int,
    cfg: RunConfig,
) -> str:
    """Write `latest` (and `best`, and `final` on the last step); returns the latest folder."""
    eval_loss = metrics[EVAL_LOSS]
    state = {
        "step": int(metrics[STEP]),
        "total_steps": total_steps,
        "tokens": int(metrics[TOKENS]),
        "tokens_per_step": int(metrics[TOKENS]) // int(metrics[STEP]),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": runtime.rng_state(batch_rng),
        "train_time_s": metrics[TRAIN_TIME_S],
        "best_eval_loss": min(ckpts.best_eval_loss, eval_loss),
        "metrics": dict(metrics),
        "config": cfg.model_dump_json(),
    }
    folder = ckpts.save_latest(state, eval_loss)
    if metrics.get(DONE):
        ckpts.finalize()
    return folder
