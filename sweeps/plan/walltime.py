"""Estimated wall time of a planned sweep, from a short measured probe of training speed here.

A trial's time is its optimizer steps times the time of one step, plus its evaluations, plus
a fixed start-up; the probe times a few real training steps (forward, backward, AdamW) of the
sweep's smallest and largest models at the trial's batch and thread count, and fits
seconds per step = overhead + FLOPs per step / rate. Trials are then packed largest first
onto the slots that run at once, as the runner starts them.

    cost = probe(plan)                     # about 1-4 s of measured training, no Ray
    est = estimate(plan, cost, slots=2)
    print(render(est))                     # "estimated wall time: 6 min 12 s (...)"
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass
from typing import Any

from contract.compute import training_flops
from trainers.cooldown import plan_cooldowns

RAY_START_S = 12.0
"""Local Ray and Tune start-up before the first trial trains (smoke.yaml: 16 s in all)."""
TRIAL_START_S = 1.5
"""Per trial: build the model, load its data split, first and final checkpoints; the runner's
own cost per trial measured ~0 (bench/trial_overhead.py)."""
EVALS_PER_TRIAL = 11
"""Evaluations of a trial without eval_interval_steps: every tenth of the run, plus the end."""
SIDE_BY_SIDE_SLOWDOWN = 1.6
"""Trials that share a machine run slower per step than the probe's lone steps: they share
caches and memory bandwidth, and Ray's own processes, the driver and the live page run beside
them. Measured on the main job (sweeps/scaling.yaml, 36 trials, 2 slots on 2 cores): 34.7 min
of trial time against 21.8 min from the probe, 1.59x; applied whenever more than one slot runs."""
PROBE_S_PER_MODEL = 0.5
"""Measured training time per probed model; the first step (allocation, warm-up) is not timed."""


@dataclass(frozen=True)
class StepCost:
    """Seconds of one optimizer step: `overhead_s` + training FLOPs of the step / `flops_per_s`."""

    overhead_s: float
    flops_per_s: float
    threads: int
    source: str
    """How the numbers were obtained, printed beside the estimate."""

    def step_s(self, step_flops: float) -> float:
        return self.overhead_s + step_flops / self.flops_per_s


@dataclass(frozen=True)
class Estimate:
    total_s: float
    trial_s: list[float]
    slots: int
    cost: StepCost


def _time_steps(model_cfg: Any, batch: int, seq_len: int, threads: int) -> float:
    """Seconds per training step of `model_cfg` on random tokens (after one untimed step)."""
    import torch

    from trainers.config import OptimConfig
    from trainers.method import build_optimizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = model_cfg.build()
    optimizer = build_optimizer(model, OptimConfig())
    tokens = torch.randint(0, model_cfg.vocab_size, (batch, seq_len + 1))

    def step() -> None:
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1)
        )
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    count, started = 0, time.perf_counter()
    while count < 2 or time.perf_counter() - started < PROBE_S_PER_MODEL:
        step()
        count += 1
    return (time.perf_counter() - started) / count


def probe(plan: Any) -> StepCost:
    """Measure the step time of the plan's smallest and largest models (GPT trials)."""
    trials = [t for t in plan.trials if hasattr(t.config, "model")]
    by_cost = sorted(trials, key=lambda t: t.config.model_config_resolved().flops_per_token)
    picks = [by_cost[0], by_cost[-1]] if len(by_cost) > 1 else by_cost[:1]
    points = []
    for t in picks:
        cfg = t.config
        model_cfg = cfg.model_config_resolved()
        threads = max(1, int(t.resources.cpus_per_worker))
        batch = cfg.trainer.batch_size * cfg.trainer.grad_accum_steps
        seconds = _time_steps(model_cfg, batch, cfg.seq_len, threads)
        step_flops = training_flops(model_cfg.flops_per_token, cfg.tokens_per_step())
        points.append((step_flops, seconds))
    threads = max(1, int(picks[0].resources.cpus_per_worker))
    source = f"measured: {len(points)}-model probe, {threads} thread(s) per trial"
    (f0, s0), (f1, s1) = points[0], points[-1]
    if f1 > 2 * f0 and s1 > 1.5 * s0:
        # A line through both points: per-step overhead plus FLOPs at a steady rate.
        rate = (f1 - f0) / (s1 - s0)
        overhead = max(0.0, s0 - f0 / rate)
    else:
        # Models this small are mostly per-step overhead and the line through two noisy
        # points is ill-conditioned (it gave 367 GFLOP/s on one core): count the largest
        # model's whole step as compute and the smallest's remainder as overhead, which
        # over-estimates the largest by at most one small step.
        rate = f1 / s1
        overhead = max(0.0, s0 - f0 / rate)
    return StepCost(overhead, rate, threads, source)


def trial_seconds(trial: Any, cost: StepCost) -> float:
    """Training steps (cooldown branches' own decays included), evaluations (forward only, a
    third of a training FLOP each; one more per branch) and start."""
    cfg = trial.config
    per_step = cfg.tokens_per_step()
    steps = trial.tokens // per_step
    step_flops = trial.flops / max(1, steps)
    fwd = cfg.model_config_resolved().flops_per_token
    branches = plan_cooldowns(cfg.optim, steps).values() if cfg.optim.cooldowns else ()
    evals = EVALS_PER_TRIAL + len(branches)
    if cfg.trainer.eval_interval_steps:
        evals = steps // cfg.trainer.eval_interval_steps + 1 + len(branches)
    steps += sum(c.decay_steps for c in branches)
    eval_s = evals * training_flops(fwd, cfg.trainer.eval_tokens) / 3 / cost.flops_per_s
    return TRIAL_START_S + steps * cost.step_s(step_flops) + eval_s


def default_slots(plan: Any) -> int:
    """Trials that run at once on this machine: its CPUs over one trial's CPUs."""
    need = max(t.resources.trial_bundle().get("CPU", 1.0) for t in plan.trials)
    return max(1, int((os.cpu_count() or 1) // max(need, 1e-9)))


def estimate(plan: Any, cost: StepCost, slots: int | None = None) -> Estimate:
    """Wall time with trials started largest first, each on the first free slot."""
    slots = slots or default_slots(plan)
    slots = min(slots, max(1, len(plan.trials)))  # a lone trial runs alone, whatever is free
    shared = SIDE_BY_SIDE_SLOWDOWN if slots > 1 else 1.0
    times = sorted((shared * trial_seconds(t, cost) for t in plan.trials), reverse=True)
    finish = [0.0] * slots
    for seconds in times:
        heapq.heappush(finish, heapq.heappop(finish) + seconds)
    return Estimate(RAY_START_S + max(finish, default=0.0), times, slots, cost)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def render(est: Estimate) -> str:
    """One line: the estimate, trial time in all, and where the speed came from."""
    c = est.cost
    busy = sum(est.trial_s)
    return (
        f"estimated wall time: {_clock(est.total_s)} ({_clock(busy)} of trial time on "
        f"{est.slots} slot(s), Ray start included; {c.flops_per_s / 1e9:.2f} GFLOP/s + "
        f"{c.overhead_s * 1e3:.1f} ms per step, {c.source}"
        + (f"; x{SIDE_BY_SIDE_SLOWDOWN:g} for trials side by side)" if est.slots > 1 else ")")
    )
