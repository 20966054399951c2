"""Per-trial orchestration cost, in-trial throughput and core use of a sweep, side by side
with the same tiny trainings run as plain processes, in one run.

    python bench/trial_overhead.py                 # 16 trials, 2 at a time
    python bench/trial_overhead.py --trials 8 --max-tokens 20480

Plain: the trials' `train()` calls in a pool of `concurrency` warm processes (torch imported,
one thread each, as Ray gives a 1-CPU trial). Sweep: the same configs through the product on
an already started local Ray (warm cluster): Ray Tune -> TorchTrainer -> the same loop.
  overhead_s       per-trial cost beyond the plain train() call: the extra wall time of a sweep
                   with twice the trials, x concurrency / extra trials, minus the median plain
                   train() time (scheduling, gaps between trials and reporting all count; the
                   once-per-sweep start-up is printed separately)
  throughput_ratio median over trials of sweep tokens/s / plain tokens/s (same config), each
                   over the whole run: tokens / training seconds (evaluation excluded)
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

from sweeps.metrics import TOKENS, TRAIN_TIME_S  # noqa: E402


def spec_dict(trials: int, max_tokens: int, first_seed: int = 0, name: str = "overhead") -> dict:
    return {
        "name": name,
        "model": {"size": "gpt-20k", "seq_len": 64},
        "data": {"dataset": {"type": "synthetic", "vocab_size": 32, "num_tokens": 200_000}},
        "trainer": {
            "batch_size": 8,
            "max_tokens": max_tokens,
            "eval_interval_steps": 40,
            "eval_tokens": 4096,
            "keep_checkpoints": False,
        },
        "search": {"seeds": list(range(first_seed, first_seed + trials))},
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
    return time.perf_counter() - start, final[TOKENS] / final[TRAIN_TIME_S]


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
    double = make_plan(
        spec_from_dict(
            spec_dict(2 * args.trials, args.max_tokens, first_seed=args.trials, name="overhead2")
        )
    )
    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        run_sweep(plan, storage=storage)
        sweep_wall = time.perf_counter() - start
        trials = pd.read_csv(Path(storage) / "overhead" / "trials.csv").set_index("trial_id")
        busy0, total0 = _cpu_times()
        start = time.perf_counter()
        run_sweep(double, storage=storage)
        double_wall = time.perf_counter() - start
        busy1, total1 = _cpu_times()
    ray.shutdown()

    n, slots = len(configs), args.concurrency
    plain_median = statistics.median(w for w, _ in plain)
    # The n extra trials of the second sweep cost (double_wall - sweep_wall) x slots core-slot
    # seconds: Tune's start-up and the first actor starts cancel out, the gaps between trials
    # and every per-trial cost stay in.
    marginal = (double_wall - sweep_wall) * slots / n - plain_median
    amortised = sweep_wall * slots / n - plain_median
    ratios = [
        trials.loc[t.trial_id, TOKENS] / trials.loc[t.trial_id, TRAIN_TIME_S] / tps
        for t, (_, tps) in zip(plan.trials, plain, strict=True)
    ]
    core_use = (busy1 - busy0) / max(1, total1 - total0)
    print(f"trials: {n} then {2 * n}, {slots} at a time, {args.max_tokens} tokens each")
    print(f"plain processes: {plain_wall:.1f} s wall, median train() {plain_median:.2f} s")
    print(f"sweeps on warm Ray: {sweep_wall:.1f} s for {n} trials, {double_wall:.1f} s for {2 * n}")
    print(
        f"per-trial overhead: {marginal:.2f} s per extra trial; {amortised:.2f} s per trial "
        f"when one {n}-trial sweep also carries Tune's start-up and the first actor starts"
    )
    print(f"in-trial throughput, sweep / plain: {statistics.median(ratios):.3f}")
    print(f"core use during the {2 * n}-trial sweep: {core_use:.2%}")
    print(
        f"overhead_s={marginal:.2f} throughput_ratio={statistics.median(ratios):.3f} "
        f"core_use={core_use:.3f}"
    )


if __name__ == "__main__":
    main()
