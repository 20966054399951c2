"""Training speed per model size in a plain process and in a sweep, side by side in one run:
tokens/s, FLOP/s and MFU (against the peak each trial reports), and how close a sweep's wall
time comes to its ideal (sum of its trials' times / slots).

    python bench/speed.py                              # CPU: the main job's shapes, ~4 min
    python bench/speed.py --max-tokens 327680          # longer trials, steadier numbers
    python bench/speed.py --device cuda                # GPU: a ~124M model, bf16, compiled
    python bench/speed.py --compile true               # CPU, every trial compiled

CPU: the main job's shapes (byte-level stdlib text, batch 8 x 128 tokens, one thread per
trial, `--slots` trials at once). Plain: the trials' `train()` calls in a pool of `slots`
processes, largest first. Sweep: the same configs through the product on a local Ray
(Tune -> TorchTrainer -> the same loop), which also starts them largest first.
  tokens/s, FLOP/s  tokens (training FLOPs, contract.compute) per training second over the
  MFU               last quarter of a trial, as its last report gives them (evaluation, the
                    start and a GPU's compile excluded); MFU is against the peak the trial
                    measured itself against: a one-thread matmul probe on a CPU, the table's
                    bf16 dense peak on a known GPU
  makespan_ratio    the sweep's span (first trial start to last trial end, from the trial
                    table) over the ideal: sum of the trials' wall times / slots; 1.0 is
                    perfect packing (Ray's start-up is outside both)
  throughput_ratio  median over sizes of sweep tokens/s / plain tokens/s
The last line is `mfu_1m=<x> mfu_100k=<y> mfu_10k=<v> makespan_ratio=<z> throughput_ratio=<w>`,
each mfu the lowest sweep MFU among the sizes of its class (>= 1M, 100k-1M, 10k-100k
non-embedding parameters; nan when the run has no size in a class). On a shared machine,
run it when the machine is otherwise idle: a busy neighbour lowers every number.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.metrics import FLOPS_PER_S, MFU, PARAMS, TOKENS_PER_S  # noqa: E402
from contract.results import FINISHED, ROW_FILE, TRIALS_FILE, find_trial_dir  # noqa: E402

CPU_SIZES = ("gpt-1m", "gpt-500k", "gpt-100k", "gpt-50k", "gpt-10k")
GPU_MODEL = {"size": "gpt-10m", "d_model": 768, "n_layers": 18, "n_heads": 12, "d_ff": 2048}
"""About 127M non-embedding parameters (GPT-2 small's width at 18 layers), for GPU runs."""
CLASSES = (("mfu_1m", 1e6, math.inf), ("mfu_100k", 1e5, 1e6), ("mfu_10k", 1e4, 1e5))
REPORTS = 4
"""Reports per trial; the numbers printed are the last one's, so start-up, the first
steps and (on a GPU) the compile stay out of them."""
COMPILE_CHOICES: dict[str, bool | str] = {"auto": "auto", "true": True, "false": False}
"""--compile's values as trainer.compile takes them (CPU only: a GPU run always compiles)."""
GPU_MAX_TOKENS = 300 * 16 * 1024
"""300 steps of 16 x 1024 tokens: long enough to repay a compile."""


def spec_dict(args: argparse.Namespace) -> dict[str, Any]:
    """The bench's sweep: one trial per size, the main job's data and batch."""
    gpu = args.device == "cuda"
    model = {**GPU_MODEL, "seq_len": 1024} if gpu else {"size": {"grid": list(args.sizes)}}
    batch_size, seq_len = (16, 1024) if gpu else (8, 128)
    max_tokens = args.max_tokens or (GPU_MAX_TOKENS if gpu else 163_840)
    steps = max_tokens // (batch_size * seq_len)
    return {
        "name": "speed",
        "model": {"seq_len": 128, **model},
        "data": {
            "dataset": {"type": "stdlib", "max_bytes": 700_000},
            "tokenizer": {"type": "byte"},
        },
        "optim": {"lr": 3e-3, "schedule": "cosine", "warmup_fraction": 0.1},
        "trainer": {
            "batch_size": batch_size,
            "epochs": 1000,
            "max_tokens": max_tokens,
            "eval_interval_steps": max(1, steps // REPORTS),
            "eval_tokens": 8192,
            "keep_checkpoints": False,
            "device": args.device,
            "precision": "bf16" if gpu else "fp32",
            "compile": True if gpu else COMPILE_CHOICES[args.compile],
        },
        "search": {"metric": "eval/loss", "mode": "min", "algorithm": "grid"},
        "resources": {"cpus_per_worker": 1, "gpus_per_worker": 1 if gpu else 0},
    }


def _pool_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    if hasattr(os, "setsid"):
        # A session of its own, as Ray's workers have: with the kernel's autogroup
        # scheduling a busy machine shares the CPU per session, and a plain trial in the
        # shell's crowded session would get less of it than a sweep trial.
        with contextlib.suppress(OSError):
            os.setsid()


def _plain_train(config_json: str, threads: int) -> dict[str, float]:
    """One trial as a plain function call; returns its final report plus start and end."""
    from trainers import Context, ListReporter, get_trainer
    from trainers.config import TrialConfig

    cfg = TrialConfig.model_validate_json(config_json)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        final = get_trainer(cfg.task.type)(
            cfg, ListReporter(), Context(num_threads=threads, trial_dir=tmp)
        )
    return {**final, "start": start, "end": time.time()}


def _speed(row: dict[str, Any]) -> dict[str, float]:
    """Tokens/s, FLOP/s and MFU as a trial's last report (or its table row) gives them: the
    training since the report before, against the peak the trial measured itself against."""
    return {
        "tokens_per_s": float(row[TOKENS_PER_S]),
        "flops_per_s": float(row[FLOPS_PER_S]),
        "mfu": float(row[MFU]),
        "params": float(row[PARAMS]),
    }


def run_plain(plan: Any, slots: int) -> tuple[dict[str, dict[str, float]], float, float]:
    """Per size speed, the plain pool's span and its ideal (sum of trial times / slots)."""
    from sweeps.plan.trials import largest_first

    trials = largest_first(plan.trials)
    configs = [t.config.model_dump_json() for t in trials]
    # Spawned, not forked: a fork of a process that has started torch's thread pools may
    # inherit them in a state that slows the child; Ray starts its workers fresh too.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(slots, spawn, initializer=_pool_init, initargs=(1,)) as pool:
        list(pool.map(_pool_init, [1] * slots))  # start the workers before timing
        finals = list(pool.map(_plain_train, configs, [1] * len(configs)))
    speeds = {t.config.model.label: _speed(f) for t, f in zip(trials, finals, strict=True)}
    span = max(f["end"] for f in finals) - min(f["start"] for f in finals)
    ideal = sum(f["end"] - f["start"] for f in finals) / slots
    return speeds, span, ideal


def run_swept(plan: Any, storage: str) -> tuple[dict[str, dict[str, float]], float, float]:
    """Per size speed in a sweep, the sweep's span and its ideal."""
    import pandas as pd

    from sweeps.tune.runner import LaunchOptions, run_sweep

    status = run_sweep(plan, LaunchOptions(storage=storage))
    sweep_dir = Path(storage) / plan.spec.name
    table = pd.read_csv(sweep_dir / TRIALS_FILE)
    if status != 0 or not (table["status"] == FINISHED).all():
        sys.exit(f"bench sweep: not every trial finished: {table['status'].tolist()}")
    ends = []
    for row in table.itertuples():
        folder = find_trial_dir(sweep_dir, row.trial_id)
        ends.append((folder / ROW_FILE).stat().st_mtime)  # written as the trial ended
    starts = [end - wall for end, wall in zip(ends, table["wall_s"], strict=True)]
    speeds = {row["model.size"]: _speed(row) for row in table.to_dict("records")}
    return speeds, max(ends) - min(starts), float(table["wall_s"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(CPU_SIZES))
    parser.add_argument(
        "--max-tokens", type=int, default=None, help="per trial (163840 on CPU, 4.9M on GPU)"
    )
    parser.add_argument("--slots", type=int, default=2, help="trials at once (CPU)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--compile",
        choices=tuple(COMPILE_CHOICES),
        default="auto",
        help="trainer.compile on a CPU (true: every trial compiles; the sweep after the plain "
        "pool finds its shapes in the compiler's cache)",
    )
    args = parser.parse_args()

    from sweeps.plan.trials import make_plan
    from sweeps.spec.sweep_spec import spec_from_dict

    plan = make_plan(spec_from_dict(spec_dict(args)))
    load_before = os.getloadavg()[0]
    slots = args.slots
    if args.device == "cuda":
        slots = 1  # one GPU: the plain process, then the sweep's one trial
    plain, plain_span, plain_ideal = run_plain(plan, slots)

    import ray

    from sweeps.tune.ray_cluster import WORKER_ENV, connect

    os.environ.update(WORKER_ENV)  # as `connect` does: Ray's processes inherit it
    gpu = args.device == "cuda"
    cpus, gpus = (2, 1) if gpu else (slots, 0)  # a GPU trial's process still wants a core
    ray.init(num_cpus=cpus, num_gpus=gpus, include_dashboard=False, log_to_driver=False)
    connect()
    with tempfile.TemporaryDirectory() as storage:
        swept, span, wall_sum = run_swept(plan, storage)
    ray.shutdown()

    print(f"load average (1 min) at start {load_before:.2f}, at end {os.getloadavg()[0]:.2f}")
    trainer = plan.trials[0].config.trainer
    print(f"{trainer.max_tokens} tokens per trial, {slots} at a time, device {args.device}")
    header = f"{'size':>10} {'params':>9} | {'plain tok/s':>11} {'GFLOP/s':>8} {'MFU':>6} |"
    print(header + f" {'sweep tok/s':>11} {'GFLOP/s':>8} {'MFU':>6} | {'ratio':>5}")
    ratios = []
    for size, p in plain.items():
        s = swept[size]
        ratios.append(s["tokens_per_s"] / p["tokens_per_s"])
        print(
            f"{size:>10} {p['params']:>9.0f} | {p['tokens_per_s']:>11.0f} "
            f"{p['flops_per_s'] / 1e9:>8.2f} {p['mfu']:>6.1%} | {s['tokens_per_s']:>11.0f} "
            f"{s['flops_per_s'] / 1e9:>8.2f} {s['mfu']:>6.1%} | {ratios[-1]:>5.3f}"
        )
    makespan_ratio = span / (wall_sum / slots)
    print(
        f"plain pool: span {plain_span:.1f} s, ideal {plain_ideal:.1f} s "
        f"({plain_span / plain_ideal:.3f}); sweep: span {span:.1f} s, ideal "
        f"{wall_sum / slots:.1f} s ({makespan_ratio:.3f})"
    )
    lowest = {}
    for key, low, high in CLASSES:
        mfus = [s["mfu"] for s in swept.values() if low <= s["params"] < high]
        lowest[key] = min(mfus) if mfus else math.nan
    print(
        " ".join(f"{k}={v:.3f}" for k, v in lowest.items())
        + f" makespan_ratio={makespan_ratio:.3f} throughput_ratio={statistics.median(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
