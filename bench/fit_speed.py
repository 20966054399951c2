"""Benchmark of the Approach-3 fit on Epoch's 245 Chinchilla points, and why tolerances matter.

Prints, side by side: the fit by variable projection versus the full 5-D start grid alone (time,
objective); scipy-default versus tight L-BFGS-B tolerances; the cost of a multi-threaded BLAS
inside L-BFGS-B; L-BFGS-B through scipy's minimize versus the lean driver (analysis.fit.lbfgsb);
the bootstrap with one refit per resample from the projected start versus three refits per
resample (the earlier method), on 1 and 2 workers, with Epoch's published SEs; the default
analysis of a 30-run sweep; and, with --coverage, the interval coverage simulation.

    python bench/fit_speed.py                       # 1,000 resamples on 2 workers
    python bench/fit_speed.py --resamples 200 --coverage 40
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

from analysis.checks.coverage import coverage  # noqa: E402
from analysis.fit import lbfgsb as lbfgsb_module  # noqa: E402
from analysis.fit.bootstrap import (  # noqa: E402
    BootstrapConfig,
    bootstrap_theta,
    chunks,
    resample_indices,
    run_jobs,
)
from analysis.fit.power_sums import (  # noqa: E402
    FitConfig,
    best_grid_starts,
    bounds,
    fit_chinchilla,
    fit_theta,
    huber_objective,
    refine,
    refine_unthrottled,
    to_natural,
)
from analysis.fit_all import AnalysisConfig, run_analysis  # noqa: E402
from analysis.laws.forms import ChinchillaFit  # noqa: E402
from analysis.load.sweep_tables import ScalingData  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests/analysis/data/epoch_chinchilla.csv"
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


def _lean_driver(logx: np.ndarray, logy: np.ndarray) -> None:
    """The same L-BFGS-B routine through scipy.optimize.minimize and through analysis.fit.lbfgsb."""
    cfg = FitConfig()
    starts = best_grid_starts(logx, logy, cfg, 20)
    args, box = (logx, logy, cfg.huber_delta), bounds(2, cfg)
    runs = {}
    for label, driver in (("minimize", lbfgsb_module._scipy), ("lean", lbfgsb_module._direct)):
        t0 = time.process_time()
        runs[label] = [
            driver(huber_objective, s, args, box, cfg.ftol, cfg.gtol, cfg.maxiter) for s in starts
        ]
        runs[label + "_s"] = time.process_time() - t0
    same = all(
        a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2] == b[2]
        for a, b in zip(runs["minimize"], runs["lean"], strict=True)
    )
    print(f"\n== L-BFGS-B from {len(starts)} starts: minimize vs the lean driver (CPU) ==")
    print(
        f"  minimize {runs['minimize_s']:.2f} s, lean {runs['lean_s']:.2f} s "
        f"(ratio {runs['minimize_s'] / runs['lean_s']:.2f}x); identical iterates: {same}"
    )


def _three_start_chunk(args: tuple) -> np.ndarray:
    """The earlier bootstrap: refit from the full optimum and 2 grid points, keep the best."""
    start, stop, seed, logx, logy, starts, cfg = args
    out = np.full((stop - start, starts.shape[1]), np.nan)
    for row, i in enumerate(range(start, stop)):
        idx = resample_indices(len(logy), seed, i)
        res = refine_unthrottled(starts, logx[:, idx], logy[idx], cfg)
        if res:
            out[row] = min(res, key=lambda r: r[0])[1]
    return out


def _timed(fn) -> tuple[object, float, float]:
    c0, t0 = _cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _cpu() - c0


def _bootstrap(logx: np.ndarray, logy: np.ndarray, resamples: int, workers: int) -> None:
    full = fit_theta(logx, logy, FitConfig())
    print(f"\n== bootstrap on {len(logy)} points ==")
    results = {}
    cpu_new = float("nan")
    for w, n in ((1, max(1, resamples // 5)), (workers, resamples)):
        cfg = BootstrapConfig(n_resamples=n, workers=w)
        samples, wall, cpu = _timed(
            lambda cfg=cfg: bootstrap_theta(logx, logy, full.theta, FitConfig(), cfg)
        )
        results[w], cpu_new = samples, cpu
        print(
            f"  projected start, {n:>5} resamples on {w} worker(s): wall {wall:6.1f} s, "
            f"CPU {cpu:6.1f} s ({cpu / n * 1e3:5.1f} ms CPU per resample)"
        )
    starts = np.vstack([full.theta[None], best_grid_starts(logx, logy, FitConfig(), 2)])
    cfg = BootstrapConfig(n_resamples=resamples, workers=workers)
    jobs = [(a, b, 0, logx, logy, starts, FitConfig()) for a, b in chunks(resamples, workers)]
    old, wall_old, cpu_old = _timed(
        lambda: np.vstack(run_jobs(_three_start_chunk, jobs, cfg, None))
    )
    print(
        f"  three starts,    {resamples:>5} resamples on {workers} worker(s): wall "
        f"{wall_old:6.1f} s, CPU {cpu_old:6.1f} s; projected/three-start CPU ratio "
        f"{cpu_new / cpu_old:.2f}"
    )
    new = results[workers]
    se_new = np.nanstd(to_natural(new), axis=0, ddof=1)
    se_old = np.nanstd(to_natural(old), axis=0, ddof=1)
    print(
        "  SE projected / three-start: "
        + ", ".join(f"{n} {a / b:.2f}" for n, a, b in zip(NAMES, se_new, se_old, strict=True))
    )
    first = results[1]
    same = np.array_equal(first, results[workers][: len(first)])
    print(f"  first {len(first)} resamples identical on 1 and {workers} workers: {same}")
    if len(logy) != 240:
        print("  (Epoch's published SEs are for 240 points: rerun with --drop-highest 5)")
        return
    print(
        "  SE vs Epoch's (4,000 resamples, 240 points): "
        + ", ".join(
            f"{n} {s:.4g}/{EPOCH_SE[n]:g} = {s / EPOCH_SE[n]:.2f}"
            for n, s in zip(NAMES, se_new, strict=True)
        )
    )


def _default_sweep_fit(workers: int) -> None:
    """The CLI's default analysis (every law, 1,000 resamples) of a 30-run sweep."""
    law = ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(2e7, 6e8, 6), 5)
    D = np.tile(np.geomspace(4e8, 1.2e10, 5), 6)
    loss = law.predict(N, D) * np.exp(rng.normal(0.0, 0.005, N.size))
    ids = [f"t{i}" for i in range(N.size)]
    pts = pd.DataFrame({"id": ids, "N": N, "D": D, "C": 6 * N * D, "loss": loss, "run_id": ids})
    data = ScalingData(pts, pd.DataFrame(columns=["id", "reason"]), None, "bench")
    cfg = AnalysisConfig(bootstrap=BootstrapConfig(workers=workers))
    result, wall, cpu = _timed(lambda: run_analysis(data, cfg))
    print(
        f"\n== default analysis of a 30-run sweep ({', '.join(result.results)}; 1,000 resamples, "
        f"{workers} workers): wall {wall:.1f} s, CPU {cpu:.1f} s =="
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
    parser.add_argument(
        "--coverage", type=int, default=0, help="simulated sweeps for the coverage check"
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
    grid_only = FitConfig(n_projected=0, n_refine=10)
    times: dict[str, list[float]] = {"projected": [], "grid": []}
    for _ in range(5):
        for label, cfg in (("projected", FitConfig()), ("grid", grid_only)):
            t0 = time.perf_counter()
            fit_theta(logx, logy, cfg)
            times[label].append(time.perf_counter() - t0)
    fit = fit_chinchilla(N, D, L)
    old = fit_theta(logx, logy, grid_only)
    p, g = statistics.median(times["projected"]), statistics.median(times["grid"])
    print(f"== Approach-3 fit of {len(L)} points, median of 5 ==")
    print(f"  variable projection (4 projected + 2 grid starts): {p:.3f} s")
    print(f"  full 5-D grid only (10 refined starts of 4,500):    {g:.3f} s  (ratio {g / p:.2f}x)")
    print(f"  objective projected / grid-only: {fit.objective / old.objective:.9f}")
    print(
        f"  E={fit.E:.4f} A={fit.A:.2f} B={fit.B:.2f} alpha={fit.alpha:.4f} "
        f"beta={fit.beta:.4f} a={fit.a:.3f}"
    )
    _tolerances(logx, logy)
    _blas_threads(logx, logy)
    _lean_driver(logx, logy)
    _bootstrap(logx, logy, args.resamples, args.workers)
    _default_sweep_fit(args.workers)
    if args.coverage:
        law = ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
        cov, wall, _ = _timed(
            lambda: coverage(law, n_sweeps=args.coverage, n_resamples=100, workers=args.workers)
        )
        print(
            f"\n== coverage of nominal {cov.level:.0%} intervals over {cov.n_sweeps} simulated "
            f"sweeps: a {cov.a:.1%}, predicted loss {cov.loss:.1%} (mean width of a "
            f"{cov.mean_width_a:.3f}; {wall:.0f} s) =="
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
