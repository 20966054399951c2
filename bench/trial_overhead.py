"""Per-trial orchestration cost, in-trial throughput and core use of a sweep, side by side
with the same tiny trainings run as plain processes, in one run.

    python bench/trial_overhead.py                        # 3 rounds of 16 + 32 trials
    python bench/trial_overhead.py --max-tokens 163840    # 2 s trainings
    python bench/trial_overhead.py --group-trials 0       # skip the worker-group part

Plain: the trials' `train()` calls in a pool of `concurrency` warm processes (torch imported,
one thread each, as Ray gives a 1-CPU trial). Sweep: the same configs through the product on
an already started local Ray (warm cluster): Ray Tune -> TorchTrainer -> the same loop.
Plain and sweep runs alternate for `--rounds` rounds, so a slow spell of a shared machine
lands on both sides rather than on one.
  overhead_s       per-trial cost beyond the plain train() call: the extra wall time of a sweep
                   with twice the trials, x concurrency / extra trials, minus the median plain
                   train() time of the same round (scheduling, gaps between trials and
                   reporting all count; the once-per-sweep start-up is printed separately);
                   median over rounds
  throughput_ratio median sweep tokens/s over median plain tokens/s, measured side by side
                   at the same time: a one-at-a-time sweep on one core while a plain process
                   trains the same configs on the other, so the shared machine's drift
                   between moments hits both alike; each trial's tokens/s is over its whole
                   run (tokens / training seconds, evaluation excluded); median over rounds.
                   The same ratio between the alternating 2-slot runs is printed too.
  core_use         busy fraction of all cores (from /proc/stat) while an n-trial sweep ran,
                   Tune's start-up included; mean over rounds (the 2n-trial sweeps' is
                   printed per round)
The last line is `overhead_s=<x> throughput_ratio=<y> core_use=<z>`.

The worker-group part runs 2-worker DDP trials (a real Train controller and worker group per
trial, one trial at a time) and prints their marginal wall time per trial next to the training
seconds inside them: the difference is what Ray's worker group costs per trial here.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.metrics import TOKENS, TRAIN_TIME_S  # noqa: E402


def spec_dict(
    trials: int,
    max_tokens: int,
    first_seed: int = 0,
    name: str = "overhead",
    resources: dict | None = None,
) -> dict:
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
        **({"resources": resources} if resources else {}),
    }


def _plain_worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _plain_train(config_json: str) -> tuple[float, float]:
    """One trial as a plain function call; returns (wall seconds, tokens/s)."""
    from trainers import Context, ListReporter, get_trainer
    from trainers.config import TrialConfig

    cfg = TrialConfig.model_validate_json(config_json)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        final = get_trainer(cfg.task.type)(
            cfg, ListReporter(), Context(num_threads=1, trial_dir=tmp)
        )
    return time.perf_counter() - start, final[TOKENS] / final[TRAIN_TIME_S]


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass
class SweepRun:
    """One sweep's wall time, core use and finished trials table."""

    wall_s: float
    core_use: float
    trials: object  # pandas DataFrame of trials.csv

    @property
    def tokens_per_s(self) -> list[float]:
        return list(self.trials[TOKENS] / self.trials[TRAIN_TIME_S])


def _sweep(raw: dict, storage: str) -> SweepRun:
    import pandas as pd

    from sweeps.plan.trials import make_plan
    from sweeps.spec.sweep_spec import spec_from_dict
    from sweeps.tune.runner import LaunchOptions, run_sweep

    plan = make_plan(spec_from_dict(raw))
    busy0, total0 = _cpu_times()
    start = time.perf_counter()
    run_sweep(plan, LaunchOptions(storage=storage))
    wall = time.perf_counter() - start
    busy1, total1 = _cpu_times()
    trials = pd.read_csv(Path(storage) / raw["name"] / "trials.csv")
    if not (trials["status"] == "TERMINATED").all():
        sys.exit(
            f"bench sweep {raw['name']}: not every trial finished: {trials['status'].tolist()}"
        )
    return SweepRun(wall, (busy1 - busy0) / max(1, total1 - total0), trials)


def _side_by_side(
    pool: ProcessPoolExecutor, configs: list[str], n: int, max_tokens: int, storage: str, tag: str
) -> tuple[list[float], list[float]]:
    """tokens/s of n one-at-a-time sweep trials and of plain trainings run alongside them."""
    stop, plain = threading.Event(), []

    def train_plain() -> None:
        i = 0
        while not stop.is_set():
            plain.append(pool.submit(_plain_train, configs[i % len(configs)]).result()[1])
            i += 1

    thread = threading.Thread(target=train_plain)
    thread.start()
    raw = spec_dict(n, max_tokens, 2 * n, tag, {"max_concurrent_trials": 1})
    try:
        swept = _sweep(raw, storage).tokens_per_s
    finally:
        stop.set()
        thread.join()
    return swept, plain


def _pair(n: int, max_tokens: int, storage: str, tag: str, resources: dict | None = None):
    """A sweep of n trials, then one of 2n fresh trials (other seeds): the difference is the
    marginal cost of n trials, free of Tune's start-up and the first actor starts."""
    single = _sweep(spec_dict(n, max_tokens, 0, f"{tag}-n", resources), storage)
    double = _sweep(spec_dict(2 * n, max_tokens, n, f"{tag}-2n", resources), storage)
    return single, double


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=40_960)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--group-trials", type=int, default=3)
    args = parser.parse_args()

    from sweeps.plan.trials import make_plan
    from sweeps.spec.sweep_spec import spec_from_dict

    n, slots = args.trials, args.concurrency
    plan = make_plan(spec_from_dict(spec_dict(n, args.max_tokens)))
    configs = [t.config.model_dump_json() for t in plan.trials]

    import os

    import ray

    from sweeps.tune.ray_cluster import WORKER_ENV, connect

    plain_walls: list[list[float]] = []
    plain_tps: list[list[float]] = []
    pairs, side = [], []
    with (
        ProcessPoolExecutor(slots, initializer=_plain_worker_init) as pool,
        ProcessPoolExecutor(1, initializer=_plain_worker_init) as alongside,
    ):
        alongside.submit(_plain_train, configs[0]).result()
        list(pool.map(_plain_train, configs[:slots]))  # warm: imports, data cache
        os.environ.update(WORKER_ENV)  # as `connect` does: Ray's processes inherit it
        ray.init(
            num_cpus=slots, include_dashboard=False, log_to_driver=False, logging_level="ERROR"
        )
        connect()
        with tempfile.TemporaryDirectory() as storage:
            for r in range(args.rounds):
                plain = list(pool.map(_plain_train, configs))
                plain_walls.append([w for w, _ in plain])
                plain_tps.append([tps for _, tps in plain])
                pairs.append(_pair(n, args.max_tokens, storage, f"round{r}"))
                side.append(
                    _side_by_side(alongside, configs, n, args.max_tokens, storage, f"side{r}")
                )
            group = None
            if args.group_trials:
                workers = {"workers": 2, "cpus_per_worker": (slots - 0.5) / 2}
                group = _pair(args.group_trials, args.max_tokens, storage, "group", workers)
        ray.shutdown()

    marginals = [
        (double.wall_s - single.wall_s) * slots / n - statistics.median(walls)
        for (single, double), walls in zip(pairs, plain_walls, strict=True)
    ]
    amortised = [
        single.wall_s * slots / n - statistics.median(walls)
        for (single, _), walls in zip(pairs, plain_walls, strict=True)
    ]
    sweep_tps = [[tps for run in pair for tps in run.tokens_per_s] for pair in pairs]
    ratios = [
        statistics.median(swept) / statistics.median(plain)
        for swept, plain in zip(sweep_tps, plain_tps, strict=True)
    ]
    side_ratios = [statistics.median(swept) / statistics.median(plain) for swept, plain in side]
    ratio = statistics.median(side_ratios)
    core_use = statistics.mean(single.core_use for single, _ in pairs)
    overhead = statistics.median(marginals)

    print(
        f"trials: {n} then {2 * n} per round, {args.rounds} rounds, {slots} at a time, "
        f"{args.max_tokens} tokens each"
    )
    for r, ((single, double), walls) in enumerate(zip(pairs, plain_walls, strict=True)):
        print(
            f"round {r}: plain median train() {statistics.median(walls):.2f} s; sweeps "
            f"{single.wall_s:.1f} s for {n} trials, {double.wall_s:.1f} s for {2 * n}; "
            f"{marginals[r]:+.2f} s per extra trial, {amortised[r]:.2f} s per trial with "
            f"Tune's start-up; core use {single.core_use:.1%} and {double.core_use:.1%}"
        )
    print(
        "in-trial throughput side by side, sweep / plain tokens/s per round: "
        + ", ".join(
            f"{statistics.median(swept):.0f} / {statistics.median(plain):.0f} = {r:.3f}"
            for (swept, plain), r in zip(side, side_ratios, strict=True)
        )
    )
    print(
        "in-trial throughput of the alternating runs, sweep / plain tokens/s per round: "
        + ", ".join(
            f"{statistics.median(swept):.0f} / {statistics.median(plain):.0f} = {r:.3f}"
            for swept, plain, r in zip(sweep_tps, plain_tps, ratios, strict=True)
        )
    )
    if group is not None:
        single, double = group
        k = args.group_trials
        per_trial = (double.wall_s - single.wall_s) / k
        train_s = statistics.median(double.trials[TRAIN_TIME_S])
        print(
            f"2-worker DDP trials (worker group, one at a time): {per_trial:.2f} s wall per "
            f"extra trial, {train_s:.2f} s of it training -> {per_trial - train_s:.2f} s of "
            f"controller, worker group, evaluation and teardown per trial"
        )
    print(f"overhead_s={overhead:.2f} throughput_ratio={ratio:.3f} core_use={core_use:.3f}")


if __name__ == "__main__":
    main()
