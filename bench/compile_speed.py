"""What `torch.compile` buys the main job's small models on this CPU, and when it pays:
eager and compiled training steps timed side by side, the compile's cost cold (empty
compiler cache) and warm (cache filled by the cold run), and the break-even trial length that
`trainer.compile: auto` weighs (trainers.compile_auto).

    python bench/compile_speed.py                          # 3 shapes, ~6 min on 2 idle cores
    python bench/compile_speed.py --params 6.74e3 2.2e5 --rounds 5
    python bench/compile_speed.py --rows rows.json    # price the plan with rows printed before

Each shape runs in two fresh processes on one thread, with a compiler cache folder of its own
(deleted afterwards): the first compiles cold, the second warm. Each then alternates blocks
of eager and compiled steps (same model, same batch: the main job's 8 x 128 tokens), so a
busy neighbour slows both alike. Printed per shape: eager and compiled ms per step (the
median block, and the range), speed-up (eager / compiled, per block pair), cold and warm
compile seconds, and the steps after which each has paid for itself. The last line gives,
for the main job's grid (`sweeps/scaling.yaml`'s first stage), its eager summed step time against what
compile auto would make of it on a first run (cold compiles) and on a rerun (warm), from the
measured numbers, interpolated in log N between the shapes measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_PARAMS = (6.74e3, 4.71e4, 2.2e5)
"""The main job's smallest, a middle and its largest size."""
BATCH, SEQ_LEN, VOCAB = 8, 128, 256
MAIN_JOB = Path(__file__).resolve().parents[1] / "sweeps" / "scaling.yaml"


def _child(params: float, rounds: int, block: int) -> dict[str, float]:
    """Time one shape in this process: the first compiled step, then eager and compiled
    blocks in turn (ms per step)."""
    import torch
    import torch.nn.functional as F

    from models.gpt import GPTConfig
    from models.shapes import gpt_shape
    from trainers.compile_auto import compile_model
    from trainers.config import OptimConfig
    from trainers.method import build_optimizer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = GPTConfig(**gpt_shape(params), seq_len=SEQ_LEN, vocab_size=VOCAB)
    model = cfg.build()
    optimizer = build_optimizer(model, OptimConfig())
    weights = list(model.parameters())
    x, y = torch.randint(0, VOCAB, (2, BATCH, SEQ_LEN))

    def step(module: torch.nn.Module) -> None:
        F.cross_entropy(module(x).flatten(0, 1), y.flatten()).backward()
        torch.nn.utils.clip_grad_norm_(weights, 1.0, foreach=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed(module: torch.nn.Module, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step(module)
        return (time.perf_counter() - start) / steps * 1e3

    timed(model, 3)
    eager_first = timed(model, block)
    compiled = compile_model(model)
    start = time.perf_counter()
    step(compiled)
    compile_s = time.perf_counter() - start - eager_first / 1e3
    timed(compiled, 2)
    eager, fast = [], []
    for _ in range(rounds):
        eager.append(timed(model, block))
        fast.append(timed(compiled, block))
    return {"params": cfg.num_params, "compile_s": compile_s, "eager": eager, "compiled": fast}


def _measure(params: float, rounds: int, block: int, cache: str) -> dict[str, float]:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    argv = [sys.executable, __file__, "--child", str(params), "--rounds", str(rounds)]
    out = subprocess.run(
        [*argv, "--block", str(block)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"compile_speed: the child for {params:g} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _interpolate(points: list[tuple[float, float]], n: float) -> float:
    """Piecewise-linear in log N through `points` (N, value), flat beyond the ends."""
    points = sorted(points)
    if n <= points[0][0]:
        return points[0][1]
    for (n0, v0), (n1, v1) in zip(points, points[1:], strict=False):
        if n <= n1:
            t = math.log(n / n0) / math.log(n1 / n0)
            return v0 + t * (v1 - v0)
    return points[-1][1]


def _main_job(rows: list[dict[str, float]], spec_path: str) -> str:
    """The main job's summed step time eager, and with compile auto cold and warm."""
    from sweeps.plan.trials import make_plan
    from sweeps.spec.sweep_spec import load_spec, read_yaml
    from sweeps.stages.pipeline import is_pipeline, load_pipeline
    from trainers.compile_auto import break_even_steps

    if is_pipeline(read_yaml(spec_path)):
        # A pipeline's own trials are its first stage's (the grid); later stages' trials are
        # planned from its results.
        spec = load_pipeline(spec_path).stages[0].spec
    else:
        spec = load_spec(spec_path)
    plan = make_plan(spec)
    eager_ms = [(r["params"], r["eager_ms"]) for r in rows]
    speedup = [(r["params"], r["speedup"]) for r in rows]
    cold = statistics.median(r["cold_s"] for r in rows)
    warm = statistics.median(r["warm_s"] for r in rows)
    totals = {"eager": 0.0, "first run": 0.0, "rerun": 0.0}
    compiled = {"first run": 0, "rerun": 0}
    for trial in plan.trials:
        cfg = trial.config
        n = cfg.model_config_resolved().num_params
        steps = cfg.num_steps(cfg.train_size())
        step_s, gain = _interpolate(eager_ms, n) / 1e3, _interpolate(speedup, n)
        totals["eager"] += steps * step_s
        for run, cost in (("first run", cold), ("rerun", warm)):
            pays = steps > break_even_steps(cost, step_s, gain)
            compiled[run] += pays
            totals[run] += cost + steps * step_s / gain if pays else steps * step_s
    return (
        f"main job ({len(plan.trials)} trials): eager steps {totals['eager'] / 60:.1f} min; "
        f"compile auto, first run {totals['first run'] / 60:.1f} min ({compiled['first run']} "
        f"compiled, {totals['eager'] / totals['first run']:.2f}x), rerun "
        f"{totals['rerun'] / 60:.1f} min ({compiled['rerun']} compiled, "
        f"{totals['eager'] / totals['rerun']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", nargs="+", type=float, default=list(DEFAULT_PARAMS))
    parser.add_argument("--rounds", type=int, default=4, help="eager/compiled block pairs")
    parser.add_argument("--block", type=int, default=20, help="steps per timed block")
    parser.add_argument("--plan", default=str(MAIN_JOB), help="the sweep the last line prices")
    parser.add_argument(
        "--rows", help="a JSON file of rows an earlier run printed: price --plan without timing"
    )
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_child(args.child, args.rounds, args.block)))
        return
    if args.rows:
        print(_main_job(json.loads(Path(args.rows).read_text()), args.plan))
        return
    from trainers.throughput import cpu_peak

    print(f"load average (1 min) at start {os.getloadavg()[0]:.2f}")
    head = f"{'params':>8} | {'eager ms':>15} | {'compiled ms':>15} | {'speed-up':>11} |"
    print(head + f" {'cold s':>6} {'warm s':>6} | {'pays after: cold':>16} {'warm':>6} steps")
    rows = []
    for params in args.params:
        with tempfile.TemporaryDirectory() as cache:
            cold = _measure(params, args.rounds, args.block, cache)
            warm = _measure(params, args.rounds, args.block, cache)
        eager, fast = cold["eager"] + warm["eager"], cold["compiled"] + warm["compiled"]
        ratios = [e / c for e, c in zip(eager, fast, strict=True)]
        row = {
            "params": cold["params"],
            "eager_ms": statistics.median(eager),
            "speedup": statistics.median(ratios),
            "cold_s": cold["compile_s"],
            "warm_s": warm["compile_s"],
        }
        rows.append(row)
        from trainers.compile_auto import break_even_steps

        step_s = row["eager_ms"] / 1e3
        pays = [break_even_steps(row[k], step_s, row["speedup"]) for k in ("cold_s", "warm_s")]
        print(
            f"{row['params']:>8.0f} | {row['eager_ms']:>5.1f} ({min(eager):.1f}-{max(eager):.1f})"
            f" | {statistics.median(fast):>5.1f} ({min(fast):.1f}-{max(fast):.1f}) | "
            f"{row['speedup']:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
            f"{row['cold_s']:>6.1f} {row['warm_s']:>6.1f} | {pays[0]:>16.0f} {pays[1]:>6.0f}"
        )
    peak = cpu_peak(1).flops_per_s
    print(
        f"load average (1 min) at end {os.getloadavg()[0]:.2f}; probed 1-thread peak "
        f"{peak / 1e9:.0f} GFLOP/s"
    )
    print(f"rows: {json.dumps(rows)}")
    print(_main_job(rows, args.plan))


if __name__ == "__main__":
    main()
