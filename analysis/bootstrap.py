"""Bootstrap over runs: resample rows with replacement, refit, read intervals off percentiles.

Resample i always draws its rows from ``default_rng([seed, i])``, and every refit starts from
the same fixed points (the full-data optimum plus a few grid points), so the samples are
identical whatever the number of worker processes.

    samples = bootstrap_theta(logx, logy, full.theta, FitConfig(), BootstrapConfig(n_resamples=400))
    est = summarize(samples[:, 0], point=1.82, level=0.95)     # Estimate(value, lo, hi, se)
    rows = bootstrap_apply(lambda idx: my_stat(df.iloc[idx]), len(df), BootstrapConfig())
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from threadpoolctl import threadpool_limits

from analysis.fitting import FitConfig, best_grid_starts, refine_unthrottled
from analysis.laws import Estimate


class BootstrapConfig(BaseModel):
    """How intervals are estimated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_resamples: int = 1000
    """Bootstrap resamples (count); 0 disables intervals."""
    seed: int = 0
    """Base seed; resample i uses the generator seeded with (seed, i)."""
    workers: int | None = None
    """Worker processes (count); None uses every core available to this process."""
    level: float = 0.95
    """Two-sided coverage of the percentile intervals (fraction, 0-1)."""
    n_grid_starts: int = 2
    """Grid points refined in each resample besides the full-data optimum (count)."""

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


def _fit_chunk(
    args: tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray, FitConfig],
) -> np.ndarray:
    """Refit resamples [start, stop); a module-level function so worker processes can run it."""
    start, stop, seed, logx, logy, starts, cfg = args
    n = len(logy)
    out = np.full((stop - start, starts.shape[1]), np.nan)
    with threadpool_limits(limits=1, user_api="blas"):  # see analysis.fitting.refine
        for row, i in enumerate(range(start, stop)):
            idx = resample_indices(n, seed, i)
            results = refine_unthrottled(starts, logx[:, idx], logy[idx], cfg)
            if results:
                out[row] = min(results, key=lambda r: r[0])[1]
    return out


def _chunks(n_resamples: int, n_workers: int) -> list[tuple[int, int]]:
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
) -> np.ndarray:
    """Refit every resample; returns (R, len(theta)) log-space parameters, NaN rows on failure."""
    if boot_cfg.n_resamples == 0:
        return np.empty((0, len(theta_full)))
    grid = best_grid_starts(logx, logy, fit_cfg, boot_cfg.n_grid_starts)
    starts = np.vstack([theta_full[None], grid])
    jobs = [
        (a, b, boot_cfg.seed, logx, logy, starts, fit_cfg)
        for a, b in _chunks(boot_cfg.n_resamples, boot_cfg.n_workers)
    ]
    if boot_cfg.n_workers > 1 and len(jobs) > 1:
        try:
            with ProcessPoolExecutor(max_workers=min(boot_cfg.n_workers, len(jobs))) as pool:
                return np.vstack(list(pool.map(_fit_chunk, jobs)))
        except (OSError, NotImplementedError):
            pass  # no process support here (e.g. no /dev/shm): same samples, computed serially
    return np.vstack([_fit_chunk(job) for job in jobs])


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
