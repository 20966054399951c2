"""Benchmark of the Approach-3 fit on Epoch's 245 Chinchilla points, and why tolerances matter.

Prints, side by side: the multi-start fit time; scipy-default versus tight L-BFGS-B tolerances
(objective, parameters, iterations); the cost of a multi-threaded BLAS inside L-BFGS-B; and a
bootstrap on 1 and 2 workers (wall and CPU time, identical samples) with Epoch's published SEs.

    python bench/fit_speed.py                       # 1,000 resamples on 2 workers
    python bench/fit_speed.py --resamples 200       # quicker
    taskset -c 0,1 python bench/fit_speed.py        # pin to two cores on a bigger machine
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.bootstrap import BootstrapConfig, bootstrap_theta  # noqa: E402
from analysis.fitting import (  # noqa: E402
    FitConfig,
    fit_chinchilla,
    fit_theta,
    refine,
    refine_unthrottled,
    to_natural,
)

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared/data/scaling/epoch_chinchilla_svg_extracted_data.csv"
)
NAMES = ("E", "A", "alpha", "B", "beta")
EPOCH_SE = {"E": 0.03, "A": 124.58, "alpha": 0.02, "B": 1293.23, "beta": 0.02}
START = np.array([0.0, 5.0, 0.5, 5.0, 0.5])  # (e, a, alpha, b, beta)
DEFAULT_TOL = FitConfig(ftol=2.220446049250313e-09, gtol=1e-05, maxiter=15_000)
"""scipy's L-BFGS-B defaults (ftol = 1e7 * machine eps, gtol = 1e-5)."""


def _cpu() -> float:
    """CPU seconds of this process plus its finished children (bootstrap workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _row(label: str, theta: np.ndarray, obj: float, iters: int | str) -> str:
    vals = to_natural(theta)
    cols = "".join(f"{v:>11.4g}" for v in vals)
    return f"  {label:<26}{obj:>13.8f}{iters:>7}{cols}"


def _tolerances(logx: np.ndarray, logy: np.ndarray) -> None:
    print("\n== scipy default vs tight tolerances (objective = summed Huber, delta 1e-3) ==")
    print(f"  {'':<26}{'objective':>13}{'iters':>7}" + "".join(f"{n:>11}" for n in NAMES))
    ((d_obj, d_th, d_it),) = refine(START[None], logx, logy, DEFAULT_TOL)
    ((t_obj, t_th, t_it),) = refine(START[None], logx, logy, FitConfig())
    print(_row("one start, default tol", d_th, d_obj, d_it))
    print(_row("one start, tight tol", t_th, t_obj, t_it))
    multi_d, multi_t = fit_theta(logx, logy, DEFAULT_TOL), fit_theta(logx, logy, FitConfig())
    print(_row("10 grid starts, default tol", multi_d.theta, multi_d.objective, "-"))
    print(_row("10 grid starts, tight tol", multi_t.theta, multi_t.objective, "-"))
    rel = np.abs(to_natural(d_th) / to_natural(t_th) - 1)
    print(
        f"  one start: default objective {d_obj / t_obj:.3f}x the tight one; parameters off by "
        + ", ".join(f"{n} {r:.1%}" for n, r in zip(NAMES, rel, strict=True))
    )
    rel = np.abs(to_natural(multi_d.theta) / to_natural(multi_t.theta) - 1)
    print(
        "  10 grid starts: default parameters off by "
        + ", ".join(f"{n} {r:.2%}" for n, r in zip(NAMES, rel, strict=True))
    )


def _blas_threads(logx: np.ndarray, logy: np.ndarray) -> None:
    times = {}
    for label, fn in (
        ("BLAS limited to 1 thread", refine),
        ("BLAS default threads", refine_unthrottled),
    ):
        t0 = time.perf_counter()
        fn(START[None], logx, logy, FitConfig())
        times[label] = time.perf_counter() - t0
    a, b = times.values()
    print(
        f"\n== one tight L-BFGS-B run: 1 BLAS thread {a * 1e3:.1f} ms, default BLAS threads "
        f"{b * 1e3:.1f} ms (ratio {b / a:.1f}x) =="
    )


def _bootstrap(logx: np.ndarray, logy: np.ndarray, resamples: int, workers: int) -> None:
    full = fit_theta(logx, logy, FitConfig())
    print(f"\n== bootstrap on {len(logy)} points ==")
    results = {}
    for w, n in ((1, max(1, resamples // 5)), (workers, resamples)):
        c0, t0 = _cpu(), time.perf_counter()
        samples = bootstrap_theta(
            logx, logy, full.theta, FitConfig(), BootstrapConfig(n_resamples=n, workers=w)
        )
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        results[w] = samples
        print(
            f"  {n:>5} resamples on {w} worker(s): wall {wall:6.1f} s, CPU {cpu:6.1f} s, "
            f"{wall / n * 1e3:6.1f} ms/resample wall, {cpu / n * 1e3:5.1f} ms CPU"
        )
    first = results[1]
    same = np.array_equal(first, results[workers][: len(first)])
    print(f"  first {len(first)} resamples identical on 1 and {workers} workers: {same}")
    if len(logy) != 240:
        print("  (Epoch's published SEs are for 240 points: rerun with --drop-highest 5)")
        return
    se = np.std(to_natural(results[workers]), axis=0, ddof=1)
    print(
        "  SE vs Epoch's (4,000 resamples, 240 points): "
        + ", ".join(
            f"{n} {s:.4g}/{EPOCH_SE[n]:g} = {s / EPOCH_SE[n]:.2f}"
            for n, s in zip(NAMES, se, strict=True)
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--drop-highest",
        type=int,
        default=0,
        help="drop the K highest losses first (Epoch's refit drops 5)",
    )
    args = parser.parse_args()
    if not DATA.is_file():
        print(f"fit_speed: {DATA} not found (shared benchmark data)", file=sys.stderr)
        return 2
    raw = pd.read_csv(DATA).sort_values("loss", kind="stable")
    raw = raw.iloc[: len(raw) - args.drop_highest]
    N, C, L = (raw[c].to_numpy(float) for c in ("Model Size", "Training FLOP", "loss"))
    D = C / (6 * N)
    logx, logy = np.log(np.vstack([N, D])), np.log(L)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fit = fit_chinchilla(N, D, L)
        times.append(time.perf_counter() - t0)
    print(f"== Approach-3 fit of {len(L)} points (10 refined grid starts of 4,500) ==")
    print(f"  median {statistics.median(times):.3f} s, min {min(times):.3f} s over 5 runs")
    print(
        f"  E={fit.E:.4f} A={fit.A:.2f} B={fit.B:.2f} alpha={fit.alpha:.4f} "
        f"beta={fit.beta:.4f} a={fit.a:.3f}"
    )
    _tolerances(logx, logy)
    _blas_threads(logx, logy)
    _bootstrap(logx, logy, args.resamples, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
