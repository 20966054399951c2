"""The training loop every method shares: AdamW, the learning-rate schedule, accumulation,
clipping, the evaluation cadence, checkpoints (latest/best/final), resume, divergence checks,
weight averaging and throughput.

A method supplies a small `Method` object (its data, model, loss and evaluation) and `run`
does the rest, so every method reports the standard metrics and resumes the same way.

    class MyMethod(Method): ...     # build_model, counts, train_batch, loss, evaluate
    final = run(cfg, ListReporter(), Context(trial_dir="runs/t0"), MyMethod)
    print(final["eval/loss"], final["tokens"])

Distributed runs: every rank trains on its shard of the data, evaluates and calls
`reporter.report` at the same steps (Ray Train's report is a collective); only rank 0 writes
checkpoints and artefacts and passes a checkpoint folder. `train/loss` is rank 0's own mean.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contract.metrics import (
    DONE,
    EVAL_LOSS,
    FLOPS,
    FLOPS_PER_S,
    LR,
    MFU,
    PARAMS,
    PARAMS_TOTAL,
    STEP,
    TOKENS,
    TOKENS_PER_S,
    TRAIN_LOSS,
    TRAIN_TIME_S,
)
from contract.results import trial_checkpoints
from models import training_flops
from trainers import runtime, throughput
from trainers.checkpoint import CheckpointManager, load_state
from trainers.config import OptimConfig, TrialConfig
from trainers.cooldown import (
    Cooldown,
    Snapshot,
    branch_tokens_before,
    plan_cooldowns,
    point_metrics,
    run_branch,
)
from trainers.ema import EMA
from trainers.reporter import Context, Reporter, TrialDiverged

DIVERGENCE_CHECK_STEPS = 8
"""Steps between NaN/inf checks of the train loss; each check syncs the device once, and the
step it names is exact however many steps it looks back over."""

Batch = tuple[torch.Tensor, ...]
"""One micro-batch, already on the device; its layout is the method's business."""


@dataclass(frozen=True)
class ModelCounts:
    """What a trained model counts as for scaling laws (reported as params/flops)."""

    params: int
    """Non-embedding parameters (N)."""
    params_total: int
    """All parameters."""
    flops_per_token: int
    """Forward FLOPs per token (per sample for non-sequence tasks)."""


class Method(ABC):
    """One training method's pieces for one trial on one worker.

    Constructed as `Method(cfg, ctx, device)` before any model exists: it loads its data (this
    worker's shard of the training split) and sets `train_size`. `run` then seeds torch and
    calls `build_model`, so weight initialisation is a function of cfg.seed alone.
    """

    train_size: int
    """Size of the whole training split (all workers), in tokens or samples."""
    ema_decay: float | None = None
    """Set to average the weights (trainers.ema) and evaluate with the average."""

    def __init__(self, cfg: TrialConfig, ctx: Context, device: torch.device) -> None:
        self.cfg, self.ctx, self.device = cfg, ctx, device

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The module to train, freshly built (and initialised as the method wants)."""

    @abstractmethod
    def counts(self, model: nn.Module) -> ModelCounts:
        """Parameter and FLOP counts of the built model."""

    @abstractmethod
    def train_batch(self, generator: torch.Generator) -> Batch:
        """One training micro-batch; all randomness drawn from `generator` (saved on resume)."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Scalar training loss of `model` (possibly DDP-wrapped) on `batch`."""

    @abstractmethod
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out metrics, EVAL_LOSS at least; runs in eval mode under torch.no_grad."""

    def finish(self, model: nn.Module, trial_dir: Path) -> None:
        """Write end-of-training artefacts into trial_dir (rank 0, last step only)."""
        return None  # most methods have none


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices (dim >= 2) only, never on norm gains.

    Frozen parameters (requires_grad False) are left out, so they never change.
    """
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


def require_one_batch(available: int, needed: int, unit: str = "tokens") -> None:
    """Fail at start-up, naming data.fraction, when the training split is under one step."""
    if available < needed:
        raise ValueError(
            f"data.fraction leaves {available} training {unit}, fewer than one step ({needed})"
        )


@contextlib.contextmanager
def eval_mode(model: nn.Module, ema: EMA | None) -> Iterator[None]:
    """Eval mode, no autograd, and the averaged weights when there are any."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), ema.applied(model) if ema else contextlib.nullcontext():
            yield
    finally:
        model.train(was_training)


def _first_nonfinite(pending: list[torch.Tensor]) -> tuple[int, float] | None:
    """Index and value of the first non-finite loss in `pending`, or None (one device sync)."""
    window = torch.stack(pending)
    finite = torch.isfinite(window)
    if bool(finite.all()):
        return None
    i = int((~finite).nonzero()[0, 0])
    return i, float(window[i])


def _check_resumable(
    state: dict[str, Any], folder: str, cfg: TrialConfig, total_steps: int, tokens_per_step: int
) -> None:
    task = json.loads(state.get("config", "{}")).get("task", {}).get("type", "lm")
    if task != cfg.task.type:
        raise ValueError(f"checkpoint {folder} is from a {task} run, not {cfg.task.type}")
    if (state["total_steps"], state["tokens_per_step"]) != (total_steps, tokens_per_step):
        raise ValueError(
            f"checkpoint {folder} is from a run of {state['total_steps']} steps x "
            f"{state['tokens_per_step']} tokens, not {total_steps} x {tokens_per_step}"
        )


MethodFactory = Callable[[TrialConfig, Context, torch.device], Method]


def run(
    cfg: TrialConfig,
    reporter: Reporter,
    ctx: Context,
    make_method: MethodFactory,
) -> dict[str, float]:
    """Train one trial with the method `make_method` builds; returns the final report.

    Resumes from `reporter.latest_checkpoint()` when it names a folder: the step, schedule,
    batch order, weight average and token count continue exactly where it left off. Raises
    TrialDiverged when the train loss becomes NaN or infinite.

    With optim.cooldowns (wsd), the run also evaluates and reports at each branch's fork step,
    with the branch's point under the branch/* keys (trainers.cooldown); the last report
    carries the run's own point (branch/fraction 1.0). The reported `flops` is all the
    training compute the trial spent: its own tokens plus every branch's decay tokens.
    """
    runtime.set_threads(ctx.num_threads)
    device = runtime.pick_device(ctx.device, cfg.trainer.device)
    t = cfg.trainer
    tokens_per_step = cfg.tokens_per_step(ctx.world_size)
    method = make_method(cfg, ctx, device)
    total_steps = cfg.num_steps(method.train_size, ctx.world_size)
    interval = t.eval_interval_steps or max(1, total_steps // 10)
    cooldowns = plan_cooldowns(cfg.optim, total_steps)

    runtime.seed_everything(cfg.seed)
    raw = method.build_model().to(device)
    counts = method.counts(raw)
    optimizer = build_optimizer(raw, cfg.optim)
    ema = EMA(raw, method.ema_decay) if method.ema_decay is not None else None
    batch_rng = runtime.batch_generator(cfg.seed)
    trial_dir = ctx.trial_dir
    if trial_dir is None and ctx.is_main:
        trial_dir = tempfile.mkdtemp(prefix="trial-")
    # Other ranks never write, so their manager's folder is never created.
    ckpts = CheckpointManager(trial_checkpoints(Path(trial_dir or ".")), keep=t.keep_checkpoints)
    step, train_time_s = 0, 0.0
    resume_dir = reporter.latest_checkpoint()
    if resume_dir is not None:
        state = load_state(resume_dir)
        _check_resumable(state, resume_dir, cfg, total_steps, tokens_per_step)
        raw.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        runtime.restore_rng_state(state["rng"], batch_rng)
        step, train_time_s = state["step"], state["train_time_s"]
        ckpts.best_eval_loss = state["best_eval_loss"]
        if step >= total_steps:
            # The run had already finished; repeat its last report so the caller sees DONE.
            reporter.report(state["metrics"], checkpoint_dir=resume_dir if ctx.is_main else None)
            return state["metrics"]
    model = ctx.wrap_model(raw)
    if runtime.should_compile(t.compile, device, total_steps - step):
        # Training steps only; evaluation runs the eager module (other shapes, no autograd).
        model = torch.compile(model)
    model.train()
    # After set_threads: a CPU trial's peak is that of the threads it was given.
    peak = throughput.device_peak(device, t.precision, torch.get_num_threads())

    params = [p for p in raw.parameters() if p.requires_grad]
    accum, clip = t.grad_accum_steps, cfg.optim.grad_clip

    def train_step(lr: float) -> torch.Tensor:
        """One optimizer step at `lr`; returns its mean loss, still on the device."""
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = None
        for micro in range(accum):
            batch = method.train_batch(batch_rng)
            with runtime.maybe_no_sync(model, micro < accum - 1):
                with runtime.autocast(device, t.precision):
                    loss = method.loss(model, batch)
                (loss / accum if accum > 1 else loss).backward()
            # Stays on the device: no sync per micro-step.
            step_loss = loss.detach() if step_loss is None else step_loss + loss.detach()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(raw)
        return step_loss / accum if accum > 1 else step_loss

    def evaluate() -> dict[str, float]:
        with eval_mode(raw, ema), runtime.autocast(device, t.precision):
            return method.evaluate(raw)

    def fork_branch(branch: Cooldown) -> dict[str, float]:
        """Train, evaluate and undo a cooldown branch; returns its point's branch/* metrics."""
        snapshot = Snapshot.take(raw, optimizer, ema, batch_rng)
        end = branch.end_step
        result = run_branch(
            branch, snapshot, train_step, lambda k: cfg.optim.lr_at(k, total_steps, end), evaluate
        )
        runtime.synchronize(device)
        return point_metrics(branch.fraction, end, tokens_per_step, counts.flops_per_token, result)

    branch_tokens = branch_tokens_before(cooldowns, step, tokens_per_step)
    pending: list[torch.Tensor] = []  # per-step losses not yet checked for NaN/inf
    loss_sum, loss_steps, last_report_step = 0.0, 0, step
    metrics: dict[str, float] = {}
    runtime.synchronize(device)
    t_start = time.perf_counter()
    while step < total_steps:
        lr = cfg.optim.lr_at(step, total_steps)
        pending.append(train_step(lr))
        step += 1
        at_eval = step % interval == 0 or step == total_steps or step in cooldowns
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
        evaluation = evaluate()
        point: dict[str, float] = {}
        if step == total_steps and cfg.optim.cooldowns:
            point = point_metrics(1.0, step, tokens_per_step, counts.flops_per_token, evaluation)
        elif step in cooldowns:
            branch_start = time.perf_counter()
            point = fork_branch(cooldowns[step])
            branch_tokens += cooldowns[step].decay_steps * tokens_per_step
            # The branch's steps are training the trial paid for; its throughput is not the
            # run's, so it stays out of the segment below.
            train_time_s += time.perf_counter() - branch_start
        segment_tokens = (step - last_report_step) * tokens_per_step
        segment_flops_per_s = training_flops(counts, segment_tokens) / max(segment_s, 1e-9)
        metrics = {
            STEP: step,
            TOKENS: tokens,
            PARAMS: counts.params,
            PARAMS_TOTAL: counts.params_total,
            FLOPS: training_flops(counts, tokens + branch_tokens),
            TRAIN_LOSS: loss_sum / loss_steps,
            EVAL_LOSS: evaluation.pop(EVAL_LOSS),
            LR: lr,
            TRAIN_TIME_S: train_time_s,
            TOKENS_PER_S: segment_tokens / max(segment_s, 1e-9),
            FLOPS_PER_S: segment_flops_per_s,
            # Every worker trains at its own peak, so the job's is world_size times one.
            MFU: segment_flops_per_s / (peak.flops_per_s * ctx.world_size),
            **evaluation,
            **point,
        }
        if step == total_steps:
            metrics[DONE] = 1.0
        checkpoint_dir = None
        if ctx.is_main:
            if step == total_steps:
                with eval_mode(raw, ema):
                    method.finish(raw, Path(trial_dir))
            checkpoint_dir = _save(ckpts, raw, optimizer, ema, batch_rng, metrics, total_steps, cfg)
        reporter.report(metrics, checkpoint_dir=checkpoint_dir)
        loss_sum, loss_steps, last_report_step = 0.0, 0, step
        # Evaluation, checkpointing and reporting are not training time.
        t_start = time.perf_counter()
    return metrics


def _save(
    ckpts: CheckpointManager,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    ema: EMA | None,
    batch_rng: torch.Generator,
    metrics: dict[str, float],
    total_steps: int,
    cfg: TrialConfig,
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
    if ema is not None:
        state["ema"] = ema.state_dict()
    folder = ckpts.save_latest(state, eval_loss)
    if metrics.get(DONE):
        ckpts.finalize()
    return folder
