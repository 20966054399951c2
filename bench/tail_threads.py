"""Idle cores at a sweep's tail: the same uneven sweep with resources.tail_threads off and on,
side by side in one run, on one local Ray of `--slots` CPUs.

    python bench/tail_threads.py                 # ~3 min on 2 cores
    python bench/tail_threads.py --repeats 2     # off, on, off, on: steadier ratios

The sweep is the main job's shape (batch 8 x 128 tokens, byte-sized vocabulary, one CPU per
trial, two at a time, eager): `--shorts` short trials and one long one, all one model size.
Trials start largest first, so the long one runs beside the short ones with its own thread
and then alone, while a core idles unless the option lends it.
  makespan         first trial start to last trial end (from the trial table; Ray's start
                   is outside it)
  steady tok/s     the short trials' tokens/s (median of their last reports): they only
                   ever run beside another trial, so the option must leave them unchanged
  tail tok/s       the long trial's tokens/s in its reports after the last short one ended
  threads          the threads the long trial reported last (trainers.threads keeps a grant
                   only if its steps got faster: on a busy machine it gives it back)
The last line is `makespan_ratio=<on/off> steady_ratio=<on/off> tail_ratio=<on/off>`. Run it
when the machine is otherwise idle: extra threads only pay on cores nobody else uses.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.metrics import THREADS, TOKENS, TOKENS_PER_S  # noqa: E402
from contract.results import (  # noqa: E402
    CURVES_FILE,
    FINISHED,
    ROW_FILE,
    STATUS,
    TRIAL_ID,
    TRIALS_FILE,
    WALL_S,
    find_trial_dir,
)
from trainers.threads import THREADS_LOG  # noqa: E402

TOKENS_PER_STEP = 8 * 128


def spec_dict(args: argparse.Namespace, on: bool, run: int) -> dict[str, Any]:
    """The uneven sweep: short trials a token apart (distinct trials), one long one."""
    short = args.short_steps * TOKENS_PER_STEP
    budgets = [short + i for i in range(args.shorts)] + [args.long_steps * TOKENS_PER_STEP]
    return {
        "name": f"tail-{'on' if on else 'off'}-{run}",
        "model": {"size": args.size, "seq_len": 128},
        "data": {"dataset": {"type": "synthetic", "vocab_size": 256, "num_tokens": 4_000_000}},
        "trainer": {
            "batch_size": 8,
            "eval_tokens": 8192,
            "compile": False,
            "max_tokens": {"grid": budgets},
        },
        "resources": {"cpus_per_worker": 1, "tail_threads": on},
    }


def run_one(spec: dict[str, Any], storage: str) -> dict[str, Any]:
    """One sweep: its makespan, the short trials' and the long trial's tail speed."""
    import pandas as pd

    from sweeps.plan.trials import make_plan
    from sweeps.spec.sweep_spec import spec_from_dict
    from sweeps.tune.runner import LaunchOptions, run_sweep

    plan = make_plan(spec_from_dict(spec))
    status = run_sweep(plan, LaunchOptions(storage=storage))
    sweep = Path(storage) / plan.spec.name
    table = pd.read_csv(sweep / TRIALS_FILE, dtype={TRIAL_ID: str})
    if status != 0 or not (table[STATUS] == FINISHED).all():
        sys.exit(f"bench sweep: not every trial finished: {table[STATUS].tolist()}")
    ends = {t: (find_trial_dir(sweep, t) / ROW_FILE).stat().st_mtime for t in table[TRIAL_ID]}
    starts = {t: ends[t] - w for t, w in zip(table[TRIAL_ID], table[WALL_S], strict=True)}
    long_id = table.loc[table[TOKENS].idxmax(), TRIAL_ID]
    last_short_end = max(e for t, e in ends.items() if t != long_id)
    curves = pd.read_csv(sweep / CURVES_FILE, dtype={TRIAL_ID: str})
    shorts = curves[curves[TRIAL_ID] != long_id].groupby(TRIAL_ID).tail(1)
    long = curves[curves[TRIAL_ID] == long_id]
    # The long trial's reports after the short ones ended: the share of its steps left then.
    tail_share = (ends[long_id] - last_short_end) / (ends[long_id] - starts[long_id])
    tail = long.tail(max(1, int(len(long) * tail_share)))
    log = find_trial_dir(sweep, long_id) / THREADS_LOG
    return {
        "log": log.read_text().strip() if log.exists() else "",
        "makespan": max(ends.values()) - min(starts.values()),
        "steady": statistics.median(shorts[TOKENS_PER_S]),
        "tail": statistics.median(tail[TOKENS_PER_S]),
        "threads": float(long[THREADS].iloc[-1]),
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="gpt-100k")
    parser.add_argument("--shorts", type=int, default=4, help="short trials")
    parser.add_argument("--short-steps", type=int, default=150)
    parser.add_argument("--long-steps", type=int, default=900)
    parser.add_argument("--slots", type=int, default=2, help="Ray's CPUs: trials at once")
    parser.add_argument("--repeats", type=int, default=1, help="off/on pairs")
    args = parser.parse_args()

    import ray

    from sweeps.tune.ray_cluster import WORKER_ENV, connect

    load_before = os.getloadavg()[0]
    os.environ.update(WORKER_ENV)  # as `connect` does: Ray's processes inherit it
    ray.init(num_cpus=args.slots, include_dashboard=False, log_to_driver=False)
    connect()
    results: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as storage:
        for run in range(args.repeats):
            for on in (False, True):
                results[on].append(run_one(spec_dict(args, on, run), storage))
    ray.shutdown()

    print(f"load average (1 min): {load_before:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print(
        f"{args.shorts} x {args.short_steps} steps + 1 x {args.long_steps} steps of {args.size},"
        f" {TOKENS_PER_STEP} tokens a step, {args.slots} slots, {os.cpu_count()} cores"
    )
    print(f"{'run':>8} {'makespan s':>10} {'steady tok/s':>12} {'tail tok/s':>10} {'threads':>7}")
    for run in range(args.repeats):
        for on in (False, True):
            r = results[on][run]
            label = f"{'on' if on else 'off'} #{run + 1}"
            print(
                f"{label:>8} {r['makespan']:>10.1f} {r['steady']:>12.0f} {r['tail']:>10.0f}"
                f" {r['threads']:>7.0f}   (load {r['load']:.2f} after)"
            )
            for line in r["log"].splitlines():  # what the long trial tried, kept, gave back
                print(f"{'':>10}{line}")

    def ratio(key: str) -> float:
        on = statistics.mean(r[key] for r in results[True])
        return on / statistics.mean(r[key] for r in results[False])

    print(
        f"makespan_ratio={ratio('makespan'):.3f} steady_ratio={ratio('steady'):.3f}"
        f" tail_ratio={ratio('tail'):.3f}"
    )


if __name__ == "__main__":
    main()
