"""Bootstrap over runs: resample rows with replacement, refit, read intervals off percentiles.

Resample i always draws its runs from ``default_rng([seed, i])``; rows that are points of one
run (a ``run_id``: checkpoints, cooldown branches) are drawn together, because treated as
independent they make intervals several times too narrow. Each refit starts from the better of
the full-data optimum and the best variable-projection point of the resample (a 2-D search over
the exponents), so the samples are identical whatever the number of worker processes.

    samples = bootstrap_theta(logx, logy, full.theta, FitConfig(), BootstrapConfig(n_resamples=400))
    est = summarize(samples[:, 0], point=1.82, level=0.95)     # Estimate(value, lo, hi, se)
    rows = bootstrap_apply(lambda idx: my_stat(df.iloc[idx]), len(df), BootstrapConfig())
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from pydantic import BaseModel, model_validator
from threadpoolctl import threadpool_limits

from analysis.fit.power_sums import FitConfig, grid_objective, projected_thetas, refine_unthrottled
from analysis.laws.forms import Estimate
from contract.config import FROZEN


class BootstrapConfig(BaseModel):
    """How intervals are estimated."""

    model_config = FROZEN

    n_resamples: int = 1000
    """Bootstrap resamples (count); 0 disables intervals."""
    seed: int = 0
    """Base seed; resample i uses the generator seeded with (seed, i)."""
    workers: int | None = None
    """Worker processes (count); None uses every core available to this process."""
    level: float = 0.95
    """Two-sided coverage of the percentile intervals (fraction, 0-1)."""
    projection_grid: tuple[float, ...] = tuple(float(v) for v in np.linspace(0.05, 2.0, 12))
    """Exponent values of each resample's variable-projection search (coarser than a fit's)."""

    @model_validator(mode="after")
    def _check(self) -> BootstrapConfig:
        if self.n_resamples < 0:
            raise ValueError(f"n_resamples must be >= 0, got {self.n_resamples}")
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {self.level}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        return self

    @property
    def n_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1


def resample_indices(n: int, seed: int, i: int) -> np.ndarray:
    """Row indices of resample ``i``: n draws with replacement, fixed by (seed, i)."""
    return np.random.default_rng([seed, i]).integers(0, n, size=n)


def cluster_rows(groups: list[np.ndarray], seed: int, i: int) -> np.ndarray:
    """Row indices of resample ``i`` when whole clusters (runs) are drawn with replacement."""
    picked = resample_indices(len(groups), seed, i)
    return np.concatenate([groups[g] for g in picked])


def groups_from_ids(ids: np.ndarray | None, n: int) -> list[np.ndarray]:
    """Row indices per run id (one row per run when ``ids`` is None)."""
    if ids is None:
        return [np.array([i]) for i in range(n)]
    _, inverse = np.unique(np.asarray(ids).astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)


def _fit_chunk(args: tuple) -> np.ndarray:
    """Refit resamples [start, stop); a module-level function so worker processes can run it."""
    start, stop, seed, logx, logy, theta_full, groups, cfg, exponents = args
    out = np.full((stop - start, len(theta_full)), np.nan)
    with threadpool_limits(limits=1, user_api="blas"):  # see analysis.fit.power_sums.refine
        for row, i in enumerate(range(start, stop)):
            idx = cluster_rows(groups, seed, i)
            lx, ly = logx[:, idx], logy[idx]
            cands = np.vstack([theta_full[None], projected_thetas(lx, ly, cfg, exponents)])
            best = cands[np.argmin(grid_objective(cands, lx, ly, cfg.huber_delta))]
            results = refine_unthrottled(best[None], lx, ly, cfg)
            if results:
                out[row] = results[0][1]
    return out


def chunks(n_resamples: int, n_workers: int) -> list[tuple[int, int]]:
    # Several chunks per worker so one slow chunk does not leave a core idle at the end.
    n_chunks = min(n_resamples, 4 * n_workers)
    edges = np.linspace(0, n_resamples, n_chunks + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def bootstrap_theta(
    logx: np.ndarray,
    logy: np.ndarray,
    theta_full: np.ndarray,
    fit_cfg: FitConfig,
    boot_cfg: BootstrapConfig,
    run_ids: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Refit every resample; returns (R, len(theta)) log-space parameters, NaN rows on failure.

    ``run_ids`` (one per row) makes rows of one run a single resampling unit.
    """
    if boot_cfg.n_resamples == 0:
        return np.empty((0, len(theta_full)))
    groups = groups_from_ids(run_ids, len(logy))
    jobs = [
        (a, b, boot_cfg.seed, logx, logy, theta_full, groups, fit_cfg, boot_cfg.projection_grid)
        for a, b in chunks(boot_cfg.n_resamples, boot_cfg.n_workers)
    ]
    return np.vstack(run_jobs(_fit_chunk, jobs, boot_cfg, progress))


def run_jobs(
    fn: Callable, jobs: list, cfg: BootstrapConfig, progress: Callable[[str], None] | None
) -> list:
    """``fn`` over ``jobs`` (chunks of resamples) on ``cfg.n_workers`` processes, in order."""
    done, total, results = 0, cfg.n_resamples, []

    def tick(job: tuple) -> None:
        nonlocal done
        done += job[1] - job[0]
        if progress is not None:
            progress(f"bootstrap {done}/{total}")

    if cfg.n_workers > 1 and len(jobs) > 1:
        try:
            with ProcessPoolExecutor(max_workers=min(cfg.n_workers, len(jobs))) as pool:
                for job, res in zip(jobs, pool.map(fn, jobs), strict=True):
                    results.append(res)
                    tick(job)
            return results
        except (OSError, NotImplementedError):
            results = []  # no process support (e.g. no /dev/shm): same samples, serially
    for job in jobs:
        results.append(fn(job))
        tick(job)
    return results


def bootstrap_apply(
    fn: Callable[[np.ndarray], np.ndarray], n_rows: int, cfg: BootstrapConfig
) -> np.ndarray:
    """Serial bootstrap of a cheap statistic: ``fn(indices) -> (m,)`` for each resample.

    A resample on which ``fn`` raises ValueError (e.g. too few distinct budgets) gives a NaN row.
    """
    rows = []
    for i in range(cfg.n_resamples):
        try:
            rows.append(np.asarray(fn(resample_indices(n_rows, cfg.seed, i)), dtype=float))
        except ValueError:
            rows.append(None)
    width = max((len(r) for r in rows if r is not None), default=0)
    return np.array([r if r is not None else np.full(width, np.nan) for r in rows]).reshape(
        len(rows), width
    )


def summarize(samples: np.ndarray, point: float, level: float = 0.95) -> Estimate:
    """Percentile interval and standard error of one quantity's bootstrap samples."""
    finite = np.asarray(samples, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite) < 2:
        return Estimate(float(point))
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return Estimate(float(point), float(lo), float(hi), float(np.std(finite, ddof=1)))
