"""PPO on CartPole-v1 to a mean return of 450: through the product, then by plain RLlib.

(a) runs `rl.train` inside one Ray Tune trial exactly as the sweep runner does (function
trainable, placement group from `rl.resources`); (b) builds the very same AlgorithmConfig and
loops `algo.train()` in a plain process (a Ray worker with the trial process's CPUs, no Tune).
Prints env steps and times of both and their ratio; --repeats alternates them and adds medians.

    python bench/rl_cartpole.py                      # default RL config, seed 0
    python bench/rl_cartpole.py --repeats 3 --num-cpus 2
    python bench/rl_cartpole.py --set task.lr=3e-4   # any RL task option (RLTask) by name
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local instance needs no token

import ray  # noqa: E402
import yaml  # noqa: E402
from ray import tune  # noqa: E402

from contract.metrics import EPISODE_RETURN, TOKENS, TRAIN_TIME_S  # noqa: E402
from rl import resources, train  # noqa: E402
from rl.algos import get_algo  # noqa: E402
from rl.config import RLTrialConfig  # noqa: E402
from rl.metrics import env_steps, episode_return  # noqa: E402

TRIAL_S = "bench/trial_s"
REPORT_S = "bench/report_s"


class _TuneReporter:
    """What the sweep runner's reporter does (forward to tune.report), timing itself."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def report(self, metrics: dict[str, float], checkpoint_dir: str | None = None) -> None:
        start = time.perf_counter()
        ckpt = tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        tune.report(dict(metrics), checkpoint=ckpt)
        self.seconds += time.perf_counter() - start

    def latest_checkpoint(self) -> str | None:
        return None


def _trainable(config: dict[str, Any]) -> None:
    # Trial time runs from the trainable's first line: algorithm build and actor start-up count.
    start = time.perf_counter()
    reporter = _TuneReporter()
    final = train(RLTrialConfig.model_validate(config["cfg"]), reporter, config["cpus"])
    tune.report({**final, TRIAL_S: time.perf_counter() - start, REPORT_S: reporter.seconds})


def run_product(cfg: RLTrialConfig, num_cpus: float, storage: str) -> dict[str, float]:
    bundles = resources(cfg, num_cpus)
    trainable = tune.with_resources(_trainable, tune.PlacementGroupFactory(bundles))
    start = time.perf_counter()
    grid = tune.Tuner(
        trainable,
        param_space={"cfg": cfg.model_dump(mode="json"), "cpus": num_cpus},
        run_config=tune.RunConfig(name="rl_cartpole", storage_path=storage, verbose=0),
    ).fit()
    wall = time.perf_counter() - start
    if grid[0].error is not None:
        raise RuntimeError(f"product trial failed: {grid[0].error}")
    m = grid[0].metrics
    return {
        "steps": m[TOKENS],
        "return": m[EPISODE_RETURN],
        "loop_s": m[TRAIN_TIME_S],
        "trial_s": m[TRIAL_S],
        "wall_s": wall,
        "report_s": m[REPORT_S],
    }


def _plain_loop(cfg: RLTrialConfig, num_cpus: float) -> dict[str, float]:
    start = time.perf_counter()
    algo = get_algo(cfg.task.algo).build(cfg, num_cpus).build_algo()
    loop_start = time.perf_counter()
    try:
        while True:
            result = algo.train()
            steps, ret = env_steps(result), episode_return(result)
            if steps >= cfg.task.max_env_steps or (
                ret is not None and ret >= cfg.task.target_return
            ):
                break
        loop_end = time.perf_counter()
    finally:
        algo.stop()  # inside the timed span, as in the product's train()
    end = time.perf_counter()
    if not os.listdir(algo.logdir):  # RLlib's unused ~/ray_results folder, as train() does
        os.rmdir(algo.logdir)
    return {
        "steps": steps,
        "return": ret or float("nan"),
        "loop_s": loop_end - loop_start,
        "trial_s": end - start,
        "wall_s": end - start,
        "report_s": 0.0,
    }


def run_plain(cfg: RLTrialConfig, num_cpus: float) -> dict[str, float]:
    # The loop runs in a Ray worker process with the trial process's CPUs, like the product's
    # trial: Ray starts workers with OMP_NUM_THREADS = their CPUs and at a lower priority
    # (nice 15), and on a busy 2-core machine either difference alone changes the time to 450
    # severalfold. Same process conditions, so the ratio measures Tune + product overhead.
    main_cpus = resources(cfg, num_cpus)[0]["CPU"]
    task = ray.remote(_plain_loop).options(num_cpus=main_cpus)
    return ray.get(task.remote(cfg, num_cpus))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=450.0, help="mean episode return")
    parser.add_argument("--max-env-steps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-cpus", type=float, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="product/plain pairs to run")
    parser.add_argument("--set", action="append", default=[], help="task.FIELD=VALUE override")
    args = parser.parse_args()
    task_over: dict[str, Any] = {"target_return": args.target, "max_env_steps": args.max_env_steps}
    for item in args.set:
        key, _, value = item.partition("=")
        task_over[key.removeprefix("task.")] = yaml.safe_load(value)
    cfg = RLTrialConfig.model_validate({"task": task_over, "seed": args.seed})
    print(f"config: {cfg.model.size}, {resources(cfg, args.num_cpus)}, {cfg.task!r}")
    # Workers import rl/ too, whatever folder the script was started from.
    ray.init(
        num_cpus=int(args.num_cpus),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    rows: list[tuple[str, dict[str, float]]] = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as storage:
            rows.append(("product", run_product(cfg, args.num_cpus, storage)))
        rows.append(("plain", run_plain(cfg, args.num_cpus)))
    ray.shutdown()
    print(
        f"{'run':<8}{'env steps':>11}{'return':>9}{'loop s':>9}{'report s':>10}"
        f"{'trial s':>9}{'wall s':>9}"
    )
    for name, r in rows:
        print(
            f"{name:<8}{r['steps']:>11.0f}{r['return']:>9.1f}{r['loop_s']:>9.1f}{r['report_s']:>10.2f}"
            f"{r['trial_s']:>9.1f}{r['wall_s']:>9.1f}"
        )
    med = {
        (name, key): statistics.median(r[key] for n, r in rows if n == name)
        for name in ("product", "plain")
        for key in ("steps", "loop_s", "trial_s")
    }
    print(
        f"median time-to-{args.target:g} ratio product/plain over {args.repeats} run(s): "
        f"trial {med['product', 'trial_s'] / med['plain', 'trial_s']:.3f}, "
        f"loop {med['product', 'loop_s'] / med['plain', 'loop_s']:.3f}; "
        f"env steps {med['product', 'steps'] / med['plain', 'steps']:.3f}"
    )


if __name__ == "__main__":
    main()
