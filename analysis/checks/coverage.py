"""Coverage of the bootstrap intervals, measured on simulated sweeps with a known true law.

A 90 % interval means something only if it contains the truth about 90 % of the time. This draws
``n_sweeps`` noisy sweeps from a known L(N, D), fits Approach 3 with its bootstrap to each and
counts how often the intervals of the compute-optimal exponent a and of a predicted loss (at 4x
the largest model and data) contain the true values.

    cov = coverage(ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28), n_sweeps=100)
    cov.a, cov.loss             # shares of intervals containing the truth (nominal: cov.level)
    cov.mean_width_a
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from analysis.fit.bootstrap import BootstrapConfig, bootstrap_theta, summarize
from analysis.fit.power_sums import FitConfig, fit_chinchilla, to_natural
from analysis.laws.forms import ChinchillaFit, allocation


class Coverage(NamedTuple):
    level: float
    n_sweeps: int
    a: float
    """Share of sweeps whose interval of a contains the true a."""
    loss: float
    """Share of sweeps whose interval of the predicted loss contains the true loss."""
    mean_width_a: float


def simulated_sweep(
    law: ChinchillaFit, rng: np.random.Generator, noise: float = 0.01, sizes: int = 6, data: int = 5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sizes`` x ``data`` runs over 1.5 decades of N and D, log-normal loss noise."""
    N = np.repeat(np.geomspace(3e7, 1e9, sizes), data)
    D = np.tile(np.geomspace(6e8, 2e10, data), sizes)
    return N, D, law.predict(N, D) * np.exp(rng.normal(0.0, noise, N.size))


def coverage(
    law: ChinchillaFit,
    n_sweeps: int = 100,
    n_resamples: int = 200,
    level: float = 0.9,
    seed: int = 0,
    workers: int | None = 1,
    noise: float = 0.01,
) -> Coverage:
    """Fit ``n_sweeps`` simulated sweeps of ``law`` and count intervals that hold the truth."""
    fit_cfg = FitConfig()
    hits_a, hits_l, widths = 0, 0, []
    true_a = float(allocation(np.array([list(law.params.values())]), 1.0)["a"][0])
    for s in range(n_sweeps):
        rng = np.random.default_rng([seed, s])
        N, D, L = simulated_sweep(law, rng, noise)
        fit = fit_chinchilla(N, D, L, fit_cfg)
        theta = np.array([np.log(fit.E), np.log(fit.A), fit.alpha, np.log(fit.B), fit.beta])
        boot = BootstrapConfig(n_resamples=n_resamples, seed=s, workers=workers, level=level)
        logx, logy = np.log(np.vstack([N, D])), np.log(L)
        samples = to_natural(bootstrap_theta(logx, logy, theta, fit_cfg, boot))[:, [0, 1, 3, 2, 4]]
        a = summarize(allocation(samples, 1.0)["a"], fit.a, level)
        n_new, d_new = 4 * N.max(), 4 * D.max()
        E, A, B, al, be = samples.T
        loss = summarize(
            E + A * n_new**-al + B * d_new**-be, float(fit.predict(n_new, d_new)), level
        )
        hits_a += a.lo <= true_a <= a.hi
        hits_l += loss.lo <= float(law.predict(n_new, d_new)) <= loss.hi
        widths.append(a.hi - a.lo)
    return Coverage(level, n_sweeps, hits_a / n_sweeps, hits_l / n_sweeps, float(np.mean(widths)))
