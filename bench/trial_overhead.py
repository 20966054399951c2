"""Per-trial orchestration cost, in-trial throughput and core use of a sweep, side by side
with the same tiny trainings run as plain processes, in one run.

    python bench/trial_overhead.py                 # 16 trials, 2 at a time
    python bench/trial_overhead.py --trials 8 --max-tokens 20480

Plain: the trials' `train()` calls in a pool of `concurrency` warm processes (torch imported,
one thread each, as Ray gives a 1-CPU trial). Sweep: the same configs through the product on
an already started local Ray (warm cluster): Ray Tune -> TorchTrainer -> the same loop.
  overhead_s       median over trials of (sweep trial time - plain train() time), where the
                   sweep trial time is its share of the sweep's wall time (wall x concurrency
                   / trials), so actor start, scheduling and reporting all count
  throughput_ratio median over trials of sweep tokens/s / plain tokens/s (same config)
  core_use         busy fraction of all cores (from /proc/stat) while the sweep ran
The last line is `overhead_s=<x> throughput_ratio=<y> core_use=<z>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps.metrics import TOKENS_PER_S  # noqa: E402


def spec_dict(trials: int, max_tokens: int) -> dict:
    return {
        "name": "overhead",
        "model": {"size": "gpt-20k", "seq_len": 64},
        "data": {"dataset": {"type": "synthetic", "vocab_size": 32, "num_tokens": 200_000}},
        "trainer": {
            "batch_size": 8,
            "max_tokens": max_tokens,
            "eval_interval_steps": 40,
            "eval_tokens": 4096,
            "keep_checkpoints": False,
        },
        "search": {"seeds": list(range(trials))},
    }


def _plain_worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _plain_train(config_json: str) -> tuple[float, float]:
    """One trial as a plain function call; returns (wall seconds, tokens/s)."""
    from trainers import Context, ListReporter, get_trainer
    from trainers.config import RunConfig

    cfg = RunConfig.model_validate_json(config_json)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        final = get_trainer(cfg.trainer.task)(
            cfg, ListReporter(), Context(num_threads=1, trial_dir=tmp)
        )
    return time.perf_counter() - start, final[TOKENS_PER_S]


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=40_960)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    from sweeps.plan import make_plan
    from sweeps.spec import spec_from_dict

    plan = make_plan(spec_from_dict(spec_dict(args.trials, args.max_tokens)))
    configs = [t.config.model_dump_json() for t in plan.trials]

    with ProcessPoolExecutor(args.concurrency, initializer=_plain_worker_init) as pool:
        list(pool.map(_plain_train, configs[: args.concurrency]))  # warm: imports, data cache
        start = time.perf_counter()
        plain = list(pool.map(_plain_train, configs))
        plain_wall = time.perf_counter() - start

    import pandas as pd
    import ray

    from sweeps.cluster import connect
    from sweeps.tuner import run_sweep

    ray.init(
        num_cpus=args.concurrency,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    connect()
    with tempfile.TemporaryDirectory() as storage:
        busy0, total0 = _cpu_times()
        start = time.perf_counter()
        run_sweep(plan, storage=storage)
        sweep_wall = time.perf_counter() - start
        busy1, total1 = _cpu_times()
        trials = pd.read_csv(Path(storage) / "overhead" / "trials.csv").set_index("trial_id")
    ray.shutdown()

    share = sweep_wall * args.concurrency / len(configs)
    overheads = [share - wall for wall, _ in plain]
    ratios = [
        trials.loc[t.trial_id, TOKENS_PER_S] / tps
        for t, (_, tps) in zip(plan.trials, plain, strict=True)
    ]
    core_use = (busy1 - busy0) / max(1, total1 - total0)
    print(f"trials: {len(configs)}, {args.concurrency} at a time, {args.max_tokens} tokens each")
    print(
        f"plain processes: {plain_wall:.1f} s wall, median train() "
        f"{statistics.median(w for w, _ in plain):.2f} s"
    )
    print(f"sweep on warm Ray: {sweep_wall:.1f} s wall ({share:.2f} s per trial slot)")
    in_tune = statistics.median(trials["wall_s"]) - statistics.median(w for w, _ in plain)
    print(
        f"median per-trial overhead: {statistics.median(overheads):.2f} s "
        f"({in_tune:.2f} s between a trial's start and its last report, the rest is Tune "
        "start-up and actor starts shared by all trials)"
    )
    print(f"in-trial throughput, sweep / plain: {statistics.median(ratios):.3f}")
    print(f"core use during the sweep: {core_use:.2%}")
    print(
        f"overhead_s={statistics.median(overheads):.2f} "
        f"throughput_ratio={statistics.median(ratios):.3f} core_use={core_use:.3f}"
    )


if __name__ == "__main__":
    main()
