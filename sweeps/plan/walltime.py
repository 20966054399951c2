"""Estimated wall time of a planned sweep, from a short measured probe of training speed here.

A trial's time is its optimizer steps times the time of one step, plus its evaluations, plus
a fixed start-up; the probe times a few real training steps (forward, backward, AdamW) of the
sweep's smallest and largest models at the trial's batch and thread count, and fits
seconds per step = overhead + FLOPs per step / rate. When several slots run at once, the
largest model is timed again beside neighbours training in their own processes: hosts differ
(the main job's trials ran 1.0-1.1x slower than the lone probe on one, 1.6x on another), so the
slowdown is measured, not assumed.
Trials are then packed largest first onto the slots that run at once, as the runner starts them.

    cost = probe(plan)                     # about 2-6 s of measured training, no Ray
    est = estimate(plan, cost, slots=2)
    print(render(est))                     # "estimated wall time: 6 min 12 s (...)"
"""

from __future__ import annotations

import heapq
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from contract.compute import training_flops
from trainers.cooldown import plan_cooldowns

if TYPE_CHECKING:
    from trainers.compile_auto import HostCosts

RAY_START_S = 12.0
"""Local Ray and Tune start-up before the first trial trains (smoke.yaml: 16 s in all)."""
TRIAL_START_S = 1.5
"""Per trial: build the model, load its data split, first and final checkpoints; the runner's
own cost per trial measured ~0 (bench/trial_overhead.py)."""
EVALS_PER_TRIAL = 11
"""Evaluations of a trial without eval_interval_steps: every tenth of the run, plus the end."""
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
    side_by_side: float = 1.0
    """How much slower a step is while the other slots train too, measured here (1.00-1.19 in
    four dry-runs within an hour on one host, where the main job's trials ran 1.00-1.11x slower
    than the lone probe; they ran 1.59x slower on another host)."""
    compile: HostCosts | None = None
    """This host's recorded compile cost and speed-up (trainers.compile_auto), read once by the
    probe; None: compile auto's defaults."""

    def step_s(self, step_flops: float) -> float:
        return self.overhead_s + step_flops / self.flops_per_s


@dataclass(frozen=True)
class Estimate:
    total_s: float
    trial_s: list[float]
    slots: int
    cost: StepCost


def _stepper(model_cfg: Any, batch: int, seq_len: int, threads: int) -> Callable[[], None]:
    """One training step (forward, backward, AdamW) of `model_cfg` on random tokens, run once
    untimed so allocation and warm-up are behind it."""
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
    return step


def _seconds_per_step(step: Callable[[], None]) -> float:
    count, started = 0, time.perf_counter()
    while count < 2 or time.perf_counter() - started < PROBE_S_PER_MODEL:
        step()
        count += 1
    return (time.perf_counter() - started) / count


def train_beside() -> None:
    """A neighbour for the side-by-side probe (run as a child process): reads a pickled
    (model config, batch, seq_len, threads) from stdin, says "ready" after its first step and
    trains until its stdin closes."""
    import threading

    model_cfg, batch, seq_len, threads = pickle.load(sys.stdin.buffer)
    step = _stepper(model_cfg, batch, seq_len, threads)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print("ready", flush=True)
    while not done.is_set():
        step()


def side_by_side(
    step: Callable[[], None], alone: float, workload: tuple[Any, int, int, int], slots: int
) -> float:
    """Seconds per `step` with `slots - 1` neighbours training the same `workload` in their own
    processes, over `alone` (its seconds per step just measured without them): what sharing
    the machine costs a trial here."""
    job = pickle.dumps(workload)
    code = "from sweeps.plan.walltime import train_beside; train_beside()"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=False
        )
        for _ in range(slots - 1)
    ]
    try:
        for child in children:
            child.stdin.write(job)
            child.stdin.flush()
        if not all(child.stdout.readline().strip() == b"ready" for child in children):
            raise RuntimeError("side-by-side probe: a neighbour process could not train")
        together = _seconds_per_step(step)
    finally:
        for child in children:
            child.stdin.close()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
    return max(1.0, together / alone)


def _workload(trial: Any) -> tuple[Any, int, int, int]:
    """(model config, batch, sequence length, threads) of one trial's training steps."""
    cfg = trial.config
    batch = cfg.trainer.batch_size * cfg.trainer.grad_accum_steps
    threads = max(1, int(trial.resources.cpus_per_worker))
    return cfg.model_config_resolved(), batch, cfg.seq_len, threads


def _slots_used(plan: Any, slots: int | None) -> int:
    """Slots that run at once: `slots` (default: the machine's), never more than the trials."""
    return min(slots or default_slots(plan), max(1, len(plan.trials)))


def probe(plan: Any, slots: int | None = None) -> StepCost:
    """Measure the step time of the plan's smallest and largest models (GPT trials), and,
    when several slots will run at once, how much slower the largest steps beside its
    neighbours."""
    trials = [t for t in plan.trials if hasattr(t.config, "model")]
    by_cost = sorted(trials, key=lambda t: t.config.model_config_resolved().flops_per_token)
    picks = [by_cost[0], by_cost[-1]] if len(by_cost) > 1 else by_cost[:1]
    points = []
    for t in picks:
        model_cfg = t.config.model_config_resolved()
        step = _stepper(*_workload(t))
        seconds = _seconds_per_step(step)
        step_flops = training_flops(model_cfg.flops_per_token, t.config.tokens_per_step())
        points.append((step_flops, seconds))
    slots = _slots_used(plan, slots)
    # The largest model, timed alone just above, is timed again beside its neighbours.
    shared = side_by_side(step, seconds, _workload(picks[-1]), slots) if slots > 1 else 1.0
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
    from trainers.compile_auto import HostCosts, record_path

    return StepCost(overhead, rate, threads, source, shared, HostCosts.load(record_path()))


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
    from trainers.compile_auto import HostCosts

    train_s = training_seconds(trial, steps, cost.step_s(step_flops), cost.compile or HostCosts())
    return TRIAL_START_S + train_s + eval_s


def training_seconds(trial: Any, steps: int, step_s: float, costs: HostCosts) -> float:
    """Seconds of `steps` training steps of `step_s` eager seconds, as trainer.compile will run
    them on a CPU: `auto` times its first eager steps and compiles when the steps left repay
    the host's compile cost `costs` at its speed-up (trainers.compile_auto). The main job's forecast run compiles: 21 s cold,
    1.32x, 234 s of training where eager steps would take 282."""
    from trainers import compile_auto

    setting, workers = trial.config.trainer.compile, trial.resources.workers
    eager = steps * step_s
    if setting is False or (setting == "auto" and workers > 1):
        return eager
    key = compile_auto.shape_key(trial.config, workers, "cpu")
    timed = compile_auto.WARMUP_STEPS + compile_auto.PROBE_STEPS if setting == "auto" else 0
    left = max(0, steps - timed)
    if setting == "auto" and not costs.should_compile(key, step_s, left):
        return eager
    compile_s = costs.warm_s if costs.is_warm(key) else costs.cold_s
    return timed * step_s + compile_s + left * step_s / costs.speedup


def default_slots(plan: Any) -> int:
    """Trials that run at once on this machine: its CPUs over one trial's CPUs."""
    need = max(t.resources.trial_bundle().get("CPU", 1.0) for t in plan.trials)
    return max(1, int((os.cpu_count() or 1) // max(need, 1e-9)))


def estimate(plan: Any, cost: StepCost, slots: int | None = None) -> Estimate:
    """Wall time with trials started largest first, each on the first free slot."""
    slots = _slots_used(plan, slots)  # a lone trial runs alone, whatever is free
    shared = cost.side_by_side if slots > 1 else 1.0
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
        + (f"; x{c.side_by_side:.2f} measured side by side)" if est.slots > 1 else ")")
    )
