"""How close a WSD run's cooldown points come to separate cosine runs to the same tokens.

One warmup-stable-decay run with cooldown branches (optim.cooldowns) against, per point, a
separate cosine run and a separate WSD run to that point's tokens, all plain processes (no
Ray), same model, data, batch order and seed. Prints per point the held-out losses and the
gaps (branch point minus reference) in nats and in %: against cosine it measures what the
schedule costs or gains, against a separate WSD run what forking a branch instead of
training from scratch changes (only the warmup's length differs). Then the training compute of
each side (the WSD run's `flops` counts its branches) and the wall time.

    python bench/cooldown.py                                  # gpt-200k, stdlib corpus
    python bench/cooldown.py --steps 600 --seeds 0 1          # longer, two seeds
    python bench/cooldown.py --cooldowns 0.25 0.5 1.0 --cooldown-fraction 0.2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contract.metrics import (  # noqa: E402
    BRANCH_EVAL_LOSS,
    BRANCH_FRACTION,
    BRANCH_TOKENS,
    EVAL_LOSS,
    FLOPS,
)
from data import DataConfig, StdlibConfig  # noqa: E402
from models import ModelSpec  # noqa: E402
from trainers.config import OptimConfig, TrainerConfig, TrialConfig  # noqa: E402
from trainers.lm import train  # noqa: E402
from trainers.reporter import Context, ListReporter  # noqa: E402


def trial_config(
    args: argparse.Namespace, optim: OptimConfig, steps: int, seed: int
) -> TrialConfig:
    tokens_per_step = args.batch_size * args.seq_len
    return TrialConfig(
        model=ModelSpec(size=args.size, seq_len=args.seq_len),
        data=DataConfig(dataset=StdlibConfig(max_bytes=args.max_bytes)),
        optim=optim,
        trainer=TrainerConfig(
            batch_size=args.batch_size,
            max_tokens=steps * tokens_per_step,
            eval_interval_steps=steps,
            eval_tokens=args.eval_tokens,
            keep_checkpoints=False,
        ),
        seed=seed,
    )


def timed(cfg: TrialConfig, threads: int) -> tuple[list[dict[str, float]], float]:
    reporter = ListReporter()
    start = time.perf_counter()
    train(cfg, reporter, Context(num_threads=threads))
    return reporter.reports, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="gpt-200k", help="model preset")
    parser.add_argument("--steps", type=int, default=800, help="optimizer steps of the WSD run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--cooldowns", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--cooldown-fraction", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-bytes", type=int, default=4_000_000, help="stdlib corpus size")
    parser.add_argument("--eval-tokens", type=int, default=65_536)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)

    wsd = OptimConfig(
        lr=args.lr,
        schedule="wsd",
        cooldowns=tuple(args.cooldowns),
        cooldown_fraction=args.cooldown_fraction,
    )
    cosine = OptimConfig(lr=args.lr, schedule="cosine")
    print(
        f"{args.size}, {args.steps} steps x {args.batch_size * args.seq_len} tokens, lr {args.lr}"
    )
    print(
        "seed fraction   tokens point_loss cosine_loss  gap_nats  gap_% | "
        "sep_wsd_loss  gap_nats  gap_%"
    )
    gaps: dict[float, list[float]] = {}
    wsd_gaps: dict[float, list[float]] = {}
    wsd_flops = cosine_flops = wsd_s = cosine_s = 0.0
    for seed in args.seeds:
        reports, seconds = timed(trial_config(args, wsd, args.steps, seed), args.threads)
        wsd_s += seconds
        wsd_flops += reports[-1][FLOPS]
        points = [r for r in reports if BRANCH_FRACTION in r]
        tokens_per_step = args.batch_size * args.seq_len
        for point in points:
            steps = int(point[BRANCH_TOKENS]) // tokens_per_step
            ref, seconds = timed(trial_config(args, cosine, steps, seed), args.threads)
            cosine_s += seconds
            cosine_flops += ref[-1][FLOPS]
            loss, ref_loss = point[BRANCH_EVAL_LOSS], ref[-1][EVAL_LOSS]
            fraction = point[BRANCH_FRACTION]
            if fraction < 1.0:
                alone = trial_config(args, wsd.model_copy(update={"cooldowns": ()}), steps, seed)
                wsd_loss = timed(alone, args.threads)[0][-1][EVAL_LOSS]
            else:
                wsd_loss = loss  # the run's own decay is a separate WSD run to that D
            gap, wsd_gap = loss - ref_loss, loss - wsd_loss
            gaps.setdefault(fraction, []).append(gap / ref_loss)
            wsd_gaps.setdefault(fraction, []).append(wsd_gap / wsd_loss)
            print(
                f"{seed:>4} {fraction:>8.3g} {int(point[BRANCH_TOKENS]):>8} "
                f"{loss:>10.4f} {ref_loss:>11.4f} {gap:>+9.4f} {100 * gap / ref_loss:>+6.2f} | "
                f"{wsd_loss:>12.4f} {wsd_gap:>+9.4f} {100 * wsd_gap / wsd_loss:>+6.2f}"
            )
    for fraction, rel in sorted(gaps.items()):
        print(
            f"mean gap at {fraction:g}: vs cosine {100 * statistics.fmean(rel):+.2f} %, "
            f"vs separate wsd {100 * statistics.fmean(wsd_gaps[fraction]):+.2f} %"
        )
    print(
        f"compute: wsd {wsd_flops:.3g} FLOPs ({wsd_s:.0f} s) vs separate cosine runs "
        f"{cosine_flops:.3g} FLOPs ({cosine_s:.0f} s); ratio {wsd_flops / cosine_flops:.2f}"
    )


if __name__ == "__main__":
    main()
