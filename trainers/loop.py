"""The training loop every method shares: AdamW, the learning-rate schedule, accumulation,
clipping, the evaluation cadence, checkpoints (latest/best/final), resume, divergence checks,
weight averaging and throughput.

A method supplies a small `trainers.method.Method` (its data, model, loss and evaluation) and `run`
does the rest, so every method reports the standard metrics and resumes the same way.

    class MyMethod(Method): ...     # build_model, counts, train_batch, loss, evaluate
    final = run(cfg, ListReporter(), Context(trial_dir="runs/t0"), MyMethod)
    print(final["eval/loss"], final["tokens"])

Distributed runs: every rank trains on its shard of the data, evaluates and calls
`reporter.report` at the same steps (Ray Train's report is a collective); only rank 0 writes
checkpoints and artefacts and passes a checkpoint folder. `train/loss` is rank 0's own mean.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contract.metrics import DONE, EVAL_LOSS, STEP, THREADS, TOKENS, TRAIN_TIME_S
from contract.results import trial_checkpoints
from trainers import compile_auto, runtime
from trainers.checkpoint import CheckpointManager, load_state
from trainers.config import TrialConfig
from trainers.cooldown import (
    Cooldown,
    Snapshot,
    branch_tokens_before,
    plan_cooldowns,
    point_metrics,
    run_branch,
)
from trainers.divergence import DIVERGENCE_CHECK_STEPS, checked_sum
from trainers.ema import EMA
from trainers.method import Method, ModelCounts, build_optimizer, eval_mode
from trainers.reporter import Context, Reporter
from trainers.step_metrics import Segment, report_metrics
from trainers.threads import TrialThreads


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


@dataclass
class _Trial:
    """One trial's built pieces on this worker, and the three things the loop does with them:
    a training step, an evaluation, and a cooldown branch."""

    cfg: TrialConfig
    ctx: Context
    device: torch.device
    method: Method
    raw: nn.Module
    """The bare module: evaluated, averaged, checkpointed."""
    optimizer: torch.optim.AdamW
    ema: EMA | None
    batch_rng: torch.Generator
    counts: ModelCounts
    total_steps: int
    tokens_per_step: int
    threads: TrialThreads
    """Its CPU threads: its own, or more at a sweep's tail (trainers.threads)."""
    model: nn.Module = field(init=False)
    """What training steps call: `raw`, DDP-wrapped and/or compiled by `prepare`."""
    params: list[nn.Parameter] = field(init=False)
    """The trained parameters, listed once rather than every step (for clipping)."""
    auto: compile_auto.AutoCompile | None = field(init=False, default=None)
    """compile auto on a CPU, while it is still timing steps."""
    eager_model: nn.Module | None = field(init=False, default=None)
    compiled_model: nn.Module | None = field(init=False, default=None)
    """compile auto's two modules over the same parameters, once it has compiled."""

    def __post_init__(self) -> None:
        self.model = self.raw
        self.params = [p for p in self.raw.parameters() if p.requires_grad]

    def prepare(self, steps_left: int) -> None:
        """Wrap for distributed training and compile when trainer.compile says so; on a CPU,
        auto decides after timing the first eager steps (trainers.compile_auto)."""
        self.model = self.ctx.wrap_model(self.raw)
        setting, device = self.cfg.trainer.compile, self.device
        key = compile_auto.shape_key(self.cfg, self.ctx.world_size, device.type)
        if runtime.should_compile(setting, device, steps_left):
            # Training steps only; evaluation runs the eager module (other shapes, no autograd).
            self.model = compile_auto.compile_model(self.model)
            if device.type == "cpu":
                compile_auto.record(compile_auto.record_path(), key)  # warm from now on
        elif setting == "auto" and device.type == "cpu" and self.ctx.world_size == 1:
            # One worker only: ranks timing their own steps could decide differently.
            self.auto = compile_auto.AutoCompile(key)
        self.model.train()

    def after_step(self, seconds: float, steps_left: int) -> None:
        """Let compile auto time the step, compile when it decides to, and run the module it
        asks for next (compiled and eager in turn while it times the speed-up); follow the
        sweep's thread grant."""
        self.threads.after_step(seconds)
        auto = self.auto
        if auto is None:
            return
        if auto.after_step(seconds, steps_left):
            self.eager_model = self.model
            self.compiled_model = compile_auto.compile_model(self.model)
            self.compiled_model.train()
        if self.compiled_model is not None:
            self.model = self.compiled_model if auto.use_compiled else self.eager_model
        if auto.done:
            self.auto = None

    def train_step(self, lr: float) -> torch.Tensor:
        """One optimizer step at `lr`; returns its mean loss, still on the device."""
        accum, clip = self.cfg.trainer.grad_accum_steps, self.cfg.optim.grad_clip
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        step_loss = None
        for micro in range(accum):
            batch = self.method.train_batch(self.batch_rng)
            with runtime.maybe_no_sync(self.model, micro < accum - 1):
                with runtime.autocast(self.device, self.cfg.trainer.precision):
                    loss = self.method.loss(self.model, batch)
                (loss / accum if accum > 1 else loss).backward()
            # Stays on the device: no sync per micro-step.
            step_loss = loss.detach() if step_loss is None else step_loss + loss.detach()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, clip, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.raw)
        return step_loss / accum if accum > 1 else step_loss

    def evaluate(self) -> dict[str, float]:
        """Held-out metrics of the bare module (with the averaged weights, if any)."""
        with (
            eval_mode(self.raw, self.ema),
            runtime.autocast(self.device, self.cfg.trainer.precision),
        ):
            return self.method.evaluate(self.raw)

    def fork_branch(self, branch: Cooldown) -> dict[str, float]:
        """Train, evaluate and undo a cooldown branch; returns its point's branch/* metrics."""
        snapshot = Snapshot.take(self.raw, self.optimizer, self.ema, self.batch_rng)
        end = branch.end_step

        def lr_at(k: int) -> float:
            return self.cfg.optim.lr_at(k, self.total_steps, end)

        result = run_branch(branch, snapshot, self.train_step, lr_at, self.evaluate)
        runtime.synchronize(self.device)
        fpt = self.counts.flops_per_token
        return point_metrics(branch.fraction, end, self.tokens_per_step, fpt, result)

    def save(self, ckpts: CheckpointManager, metrics: dict[str, float]) -> str:
        """Write `latest` (and `best`, and `final` on the last step); returns the latest folder.

        The trial holds everything a resume needs (weights, optimizer, EMA, the batch RNG), so
        it is the one that knows how to write itself down."""
        eval_loss = metrics[EVAL_LOSS]
        state = {
            "step": int(metrics[STEP]),
            "total_steps": self.total_steps,
            "tokens": int(metrics[TOKENS]),
            "tokens_per_step": int(metrics[TOKENS]) // int(metrics[STEP]),
            "model": self.raw.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": runtime.rng_state(self.batch_rng),
            "train_time_s": metrics[TRAIN_TIME_S],
            "best_eval_loss": min(ckpts.best_eval_loss, eval_loss),
            "metrics": dict(metrics),
            "config": self.cfg.model_dump_json(),
        }
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        folder = ckpts.save_latest(state, eval_loss)
        if metrics.get(DONE):
            ckpts.finalize()
        return folder


def _build(cfg: TrialConfig, ctx: Context, make_method: MethodFactory) -> _Trial:
    """Threads, device, data, a freshly initialised model (a function of cfg.seed alone),
    its optimizer, weight average and batch order."""
    threads = TrialThreads.start(ctx.num_threads, ctx.threads_file)
    device = runtime.pick_device(ctx.device, cfg.trainer.device)
    method = make_method(cfg, ctx, device)
    runtime.seed_everything(cfg.seed)
    raw = method.build_model().to(device)
    return _Trial(
        cfg=cfg,
        ctx=ctx,
        device=device,
        method=method,
        raw=raw,
        optimizer=build_optimizer(raw, cfg.optim),
        ema=EMA(raw, method.ema_decay) if method.ema_decay is not None else None,
        batch_rng=runtime.batch_generator(cfg.seed),
        counts=method.counts(raw),
        total_steps=cfg.num_steps(method.train_size, ctx.world_size),
        tokens_per_step=cfg.tokens_per_step(ctx.world_size),
        threads=threads,
    )


def _resume(
    trial: _Trial, reporter: Reporter, ckpts: CheckpointManager
) -> tuple[int, float, dict[str, float] | None]:
    """Continue from the reporter's latest checkpoint, if it names one: loads the weights,
    optimizer, average, random state and best loss; returns the step and train time to go on
    from, and the final report when that checkpoint's run had already finished."""
    folder = reporter.latest_checkpoint()
    if folder is None:
        return 0, 0.0, None
    state = load_state(folder)
    _check_resumable(state, folder, trial.cfg, trial.total_steps, trial.tokens_per_step)
    trial.raw.load_state_dict(state["model"])
    trial.optimizer.load_state_dict(state["optimizer"])
    if trial.ema is not None:
        trial.ema.load_state_dict(state["ema"])
    runtime.restore_rng_state(state["rng"], trial.batch_rng)
    ckpts.best_eval_loss = state["best_eval_loss"]
    if state["step"] >= trial.total_steps:
        # Repeat the finished run's last report so the caller sees DONE.
        reporter.report(state["metrics"], checkpoint_dir=folder if trial.ctx.is_main else None)
        return state["step"], state["train_time_s"], state["metrics"]
    return state["step"], state["train_time_s"], None


def _evaluate_at(
    trial: _Trial, step: int, cooldowns: dict[int, Cooldown]
) -> tuple[dict[str, float], dict[str, float], float, int]:
    """Evaluate at `step`, and train and evaluate the cooldown branch that forks there.

    Returns the evaluation, the scaling-law point's branch/* metrics (empty when `step` is
    no point), and the seconds and tokens the branch trained for.
    """
    evaluation = trial.evaluate()
    if step == trial.total_steps and trial.cfg.optim.cooldowns:
        fpt = trial.counts.flops_per_token
        point = point_metrics(1.0, step, trial.tokens_per_step, fpt, evaluation)
        return evaluation, point, 0.0, 0
    if step not in cooldowns:
        return evaluation, {}, 0.0, 0
    branch_start = time.perf_counter()
    point = trial.fork_branch(cooldowns[step])
    branch_s = time.perf_counter() - branch_start
    return evaluation, point, branch_s, cooldowns[step].decay_steps * trial.tokens_per_step


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
    # From the start, so every full collection of the trial, in the data build as in the
    # loop, skips the objects the process held before it.
    with runtime.frozen_heap():
        trial = _build(cfg, ctx, make_method)
        trial_dir = ctx.trial_dir
        if trial_dir is None and ctx.is_main:
            trial_dir = tempfile.mkdtemp(prefix="trial-")
        # Other ranks never write, so their manager's folder is never created.
        keep = cfg.trainer.keep_checkpoints
        ckpts = CheckpointManager(trial_checkpoints(Path(trial_dir or ".")), keep=keep)
        step, train_time_s, finished = _resume(trial, reporter, ckpts)
        if finished is not None:
            return finished
        trial.prepare(trial.total_steps - step)
        return _train(trial, reporter, ckpts, trial_dir, step, train_time_s)


def _steps_to_eval(
    trial: _Trial, step: int, segment: Segment, evaluates: Callable[[int], bool]
) -> tuple[int, float]:
    """Train from ``step`` until a step that ``evaluates`` (or the last), summing the losses
    into ``segment`` and checking them for NaN/inf every ``DIVERGENCE_CHECK_STEPS`` steps (one
    host sync per check); returns that step and its learning rate."""
    total_steps, optim = trial.total_steps, trial.cfg.optim
    pending: list[torch.Tensor] = []  # per-step losses not yet checked
    while True:
        lr = optim.lr_at(step, total_steps)
        step_start = time.perf_counter()
        pending.append(trial.train_step(lr))
        step += 1
        trial.after_step(time.perf_counter() - step_start, total_steps - step)
        at_eval = step == total_steps or evaluates(step)
        if len(pending) < DIVERGENCE_CHECK_STEPS and not at_eval:
            continue
        segment.loss_sum += checked_sum(pending, step, optim, total_steps)
        segment.loss_steps += len(pending)
        pending.clear()
        if at_eval:
            return step, lr


def _train(
    trial: _Trial,
    reporter: Reporter,
    ckpts: CheckpointManager,
    trial_dir: str | None,
    step: int,
    train_time_s: float,
) -> dict[str, float]:
    """Train from `step` to the end, evaluating, reporting and checkpointing on the way
    (see `run`); returns the final report."""
    cfg, total_steps, tokens_per_step = trial.cfg, trial.total_steps, trial.tokens_per_step
    interval = cfg.trainer.eval_interval_steps or max(1, total_steps // 10)
    cooldowns = plan_cooldowns(cfg.optim, total_steps)
    branch_tokens = branch_tokens_before(cooldowns, step, tokens_per_step)
    metrics: dict[str, float] = {}
    runtime.synchronize(trial.device)
    segment = Segment(step)
    while step < total_steps:
        step, lr = _steps_to_eval(
            trial, step, segment, lambda s: s % interval == 0 or s in cooldowns
        )
        runtime.synchronize(trial.device)
        segment_s = time.perf_counter() - segment.started
        train_time_s += segment_s
        evaluation, point, branch_s, branch_spent = _evaluate_at(trial, step, cooldowns)
        # The branch's steps are training the trial paid for; its throughput is not the
        # run's, so it stays out of the segment's.
        train_time_s += branch_s
        branch_tokens += branch_spent
        spent_tokens = step * tokens_per_step + branch_tokens
        metrics = report_metrics(
            trial.counts,
            tokens_per_step,
            trial.ctx.world_size,
            step,
            lr,
            segment,
            segment_s,
            trial.threads.peak_flops(trial.device, cfg.trainer.precision),
            spent_tokens,
            train_time_s,
            evaluation,
        )
        metrics.update(point)
        metrics[THREADS] = trial.threads.current
        if step == total_steps:
            metrics[DONE] = 1.0
        _report(trial, reporter, ckpts, trial_dir, metrics)
        # Evaluation, checkpointing and reporting are not training time.
        segment = Segment(step)
    return metrics


def _report(
    trial: _Trial,
    reporter: Reporter,
    ckpts: CheckpointManager,
    trial_dir: str | None,
    metrics: dict[str, float],
) -> None:
    """Rank 0 writes the final artefacts and checkpoints; every rank reports (a collective)."""
    checkpoint_dir = None
    if trial.ctx.is_main:
        if metrics.get(DONE):
            with eval_mode(trial.raw, trial.ema):
                trial.method.finish(trial.raw, Path(trial_dir))
        checkpoint_dir = trial.save(ckpts, metrics)
    reporter.report(metrics, checkpoint_dir=checkpoint_dir)
