"""Robust fitting of power-law sums: summed Huber loss on log residuals, L-BFGS-B, many starts.

The objective (Hoffmann et al. 2022, Approach 3) is sum_i Huber_delta(LSE(a_k - alpha_k log X_ik,
e) - log L_i) over theta = (e, a_1, alpha_1, ..., a_K, alpha_K). Its analytic gradient is passed
to L-BFGS-B (jac=True) and tolerances are tight, because scipy's defaults stop on this flat
objective after a few iterations near the starting point.

    fit = fit_chinchilla(N, D, loss)                       # ChinchillaFit(E, A, B, alpha, beta)
    fit = fit_power_law(C, loss, x="C")                    # PowerLawFit(E, A, alpha)
    fit = fit_chinchilla(N, D, loss, FitConfig(huber_delta=1e-2))
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, model_validator
from threadpoolctl import threadpool_limits

from analysis.fit.lbfgsb import lbfgsb
from analysis.laws.forms import ChinchillaFit, PowerLawFit
from contract.config import FROZEN


class FitConfig(BaseModel):
    """How a law is fitted: the robust loss, the optimiser's tolerances and the start grid."""

    model_config = FROZEN

    huber_delta: float = 1e-3
    """Huber threshold on residuals of natural-log loss (dimensionless)."""
    ftol: float = 1e-15
    """L-BFGS-B relative objective-reduction tolerance (dimensionless; scipy default 2.2e-9)."""
    gtol: float = 1e-15
    """L-BFGS-B projected-gradient tolerance (objective units; scipy default 1e-5)."""
    maxiter: int = 100_000
    """Iteration cap per start (count)."""
    n_refine: int = 2
    """How many of the best points of the full 5-D start grid are refined (count)."""
    n_projected: int = 4
    """How many of the best variable-projection starts are refined (count)."""
    projection_grid: tuple[float, ...] = tuple(float(v) for v in np.linspace(0.02, 2.5, 32))
    """Exponent values searched by variable projection, per variable (dimensionless)."""
    log_floor_grid: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)
    """Start values of e = log E (natural log of loss units)."""
    log_coef_grid: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    """Start values of each a_k = log A_k (natural log)."""
    exponent_grid: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    """Start values of each exponent alpha_k (dimensionless)."""
    log_floor_bounds: tuple[float, float] = (-20.0, 10.0)
    """Search box for e; E pinned at the lower end means the data show no floor."""
    log_coef_bounds: tuple[float, float] = (-40.0, 120.0)
    """Search box for each a_k (natural log)."""
    exponent_bounds: tuple[float, float] = (0.0, 4.0)
    """Search box for each exponent; 0 means the loss does not depend on that variable."""

    @model_validator(mode="after")
    def _check(self) -> FitConfig:
        if self.huber_delta <= 0:
            raise ValueError(f"huber_delta must be > 0, got {self.huber_delta}")
        if self.n_refine < 1 or self.maxiter < 1:
            raise ValueError("n_refine and maxiter must be >= 1")
        for name in ("log_floor", "log_coef", "exponent"):
            lo, hi = getattr(self, f"{name}_bounds")
            grid = getattr(self, f"{name}_grid")
            if not lo < hi:
                raise ValueError(f"{name}_bounds must be (low, high) with low < high")
            if not grid or min(grid) < lo or max(grid) > hi:
                raise ValueError(f"{name}_grid must be non-empty and inside {name}_bounds")
        return self


class ThetaFit(NamedTuple):
    """Raw optimum in log space, before conversion to a typed law."""

    theta: np.ndarray
    objective: float
    at_bound: tuple[int, ...]
    start_spread: float
    n_iter: int


def huber_objective(
    theta: np.ndarray, logx: np.ndarray, logy: np.ndarray, delta: float
) -> tuple[float, np.ndarray]:
    """Summed Huber loss of log residuals and its gradient; ``logx`` is (K, n), ``logy`` (n,).

    This runs ~100 times per start, so it is written for few numpy calls: the Huber loss is
    c (r - c/2) with c = clip(r, -delta, delta), and c is also its derivative.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        z = theta[1::2, None] - theta[2::2, None] * logx  # (K, n) log of each power-law term
        ez = np.exp(z)  # (K, n)
        ee = math.exp(theta[0]) if theta[0] < 700 else math.inf
        s = ez.sum(axis=0) + ee  # (n,) predicted loss
        r = np.log(s) - logy  # (n,) log-prediction minus log-observation
    if not np.isfinite(r).all():
        return _huber_objective_shifted(theta, logx, logy, delta)
    c = np.minimum(np.maximum(r, -delta), delta)  # (n,) dHuber/dr
    loss = float(np.dot(c, r - 0.5 * c))
    dr = c / s  # (n,) chain rule through log(s)
    grad = np.empty_like(theta)
    grad[0] = ee * dr.sum()
    wz = ez * dr  # (K, n)
    grad[1::2] = wz.sum(axis=1)
    grad[2::2] = -np.einsum("kn,kn->k", wz, logx)
    return loss, grad


def _huber_objective_shifted(
    theta: np.ndarray, logx: np.ndarray, logy: np.ndarray, delta: float
) -> tuple[float, np.ndarray]:
    """Same value and gradient with a max-shifted log-sum-exp, for terms that overflow exp."""
    e = theta[0]
    z = theta[1::2, None] - theta[2::2, None] * logx  # (K, n)
    m = np.maximum(z.max(axis=0), e)  # (n,)
    ez, ee = np.exp(z - m), np.exp(e - m)  # (K, n), (n,) softmax numerators
    s = ez.sum(axis=0) + ee
    r = m + np.log(s) - logy
    c = np.clip(r, -delta, delta)
    dr = c / s
    grad = np.empty_like(theta)
    grad[0] = (dr * ee).sum()
    wz = ez * dr
    grad[1::2] = wz.sum(axis=1)
    grad[2::2] = -(wz * logx).sum(axis=1)
    return float(np.dot(c, r - 0.5 * c)), grad


def grid_objective(
    thetas: np.ndarray, logx: np.ndarray, logy: np.ndarray, delta: float
) -> np.ndarray:
    """Objective for many parameter vectors at once: ``thetas`` (G, 1+2K) -> (G,)."""
    out = np.empty(len(thetas))
    # Chunk so (chunk, K, n) stays a few million floats whatever the data size.
    chunk = max(1, 2_000_000 // max(1, logx.size))
    for i in range(0, len(thetas), chunk):
        t = thetas[i : i + chunk]
        z = t[:, 1::2, None] - t[:, 2::2, None] * logx[None]  # (g, K, n)
        lse = np.logaddexp(np.logaddexp.reduce(z, axis=1), t[:, :1])  # (g, n)
        ar = np.abs(lse - logy)
        out[i : i + chunk] = np.where(ar <= delta, 0.5 * ar * ar, delta * (ar - 0.5 * delta)).sum(1)
    return out


def start_grid(n_vars: int, cfg: FitConfig) -> np.ndarray:
    """Cartesian grid of starts (G, 1+2K) in the layout (e, a_1, alpha_1, ...)."""
    axes = [cfg.log_floor_grid] + [cfg.log_coef_grid, cfg.exponent_grid] * n_vars
    return np.array(list(itertools.product(*axes)), dtype=float)


def bounds(n_vars: int, cfg: FitConfig) -> list[tuple[float, float]]:
    return [cfg.log_floor_bounds] + [cfg.log_coef_bounds, cfg.exponent_bounds] * n_vars


def refine(
    starts: np.ndarray, logx: np.ndarray, logy: np.ndarray, cfg: FitConfig
) -> list[tuple[float, np.ndarray, int]]:
    """Run tight-tolerance L-BFGS-B from each start; returns (objective, theta, iterations)."""
    with threadpool_limits(limits=1, user_api="blas"):
        # L-BFGS-B calls BLAS on 5x5 problems; a BLAS thread pool there costs 7x (idle) to
        # 90x (busy machine) in wall time, measured with bench/fit_speed.py.
        return refine_unthrottled(starts, logx, logy, cfg)


def refine_unthrottled(
    starts: np.ndarray, logx: np.ndarray, logy: np.ndarray, cfg: FitConfig
) -> list[tuple[float, np.ndarray, int]]:
    """``refine`` for callers that already hold single-threaded BLAS (bootstrap workers)."""
    box = bounds(logx.shape[0], cfg)
    out = []
    for x0 in starts:
        args = (logx, logy, cfg.huber_delta)
        fun, theta, nit = lbfgsb(huber_objective, x0, args, box, cfg.ftol, cfg.gtol, cfg.maxiter)
        if np.isfinite(fun):
            out.append((fun, theta, nit))
    return out


def best_grid_starts(logx: np.ndarray, logy: np.ndarray, cfg: FitConfig, k: int) -> np.ndarray:
    """The ``k`` grid points with the lowest objective, best first."""
    grid = start_grid(logx.shape[0], cfg)
    values = grid_objective(grid, logx, logy, cfg.huber_delta)
    return grid[np.argsort(values, kind="stable")[:k]]


def _batched_nnls(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative least squares for G small problems at once: (G, n, p), (n,) -> (G, p).

    With p <= 3 the optimum is the least-squares solution on one support set that is feasible
    and has the smallest residual, so every one of the 2^p - 1 supports is solved in batch
    (normal equations), which is ~50x faster here than a loop of scipy.optimize.nnls.
    """
    G, _, p = design.shape
    gram = np.einsum("gni,gnj->gij", design, design)  # (G, p, p)
    rhs = np.einsum("gni,n->gi", design, target)  # (G, p)
    best, best_res = np.zeros((G, p)), np.full(G, float(target @ target))
    for size in range(1, p + 1):
        for support in itertools.combinations(range(p), size):
            s = list(support)
            sub = gram[:, s][:, :, s] + 1e-300 * np.eye(size)
            with np.errstate(all="ignore"):
                try:
                    coef = np.linalg.solve(sub, rhs[:, s][..., None])[..., 0]  # (G, size)
                except np.linalg.LinAlgError:
                    continue
            # Residual |y - X c|^2 = y.y - 2 c.X'y + c'X'X c.
            res = (
                float(target @ target)
                - 2 * np.einsum("gi,gi->g", coef, rhs[:, s])
                + np.einsum("gi,gij,gj->g", coef, sub, coef)
            )
            ok = np.isfinite(res) & (coef >= 0).all(axis=1) & (res < best_res)
            best[ok] = 0.0
            best[np.ix_(ok, s)] = coef[ok]
            best_res[ok] = res[ok]
    return best


def projected_thetas(
    logx: np.ndarray, logy: np.ndarray, cfg: FitConfig, exponents: tuple[float, ...] | None = None
) -> np.ndarray:
    """Variable projection: for each exponent combination, the best floor and coefficients.

    For fixed exponents the law E + sum_k A_k X_k^-alpha_k is linear in (E, A_k) >= 0, so a
    non-negative least-squares solve on relative residuals ((pred - L) / L, the first-order
    log residual) gives them; the search is then over the exponents only. Returns (G, 1+2K)
    thetas in the optimiser's layout, clipped into the search box, for ``grid_objective``.
    """
    grid = cfg.projection_grid if exponents is None else exponents
    K, y = logx.shape[0], np.exp(logy)
    combos = np.array(list(itertools.product(grid, repeat=K)))  # (G, K)
    box = np.array(bounds(K, cfg))
    # Columns scaled to unit size so the normal equations stay well conditioned.
    terms = np.exp(-combos[:, :, None] * logx[None])  # (G, K, n) X_k^-alpha_k
    scale = np.sqrt((terms**2).mean(axis=2))  # (G, K)
    ones = np.ones_like(y)
    design = np.concatenate(
        [np.broadcast_to(ones, (len(combos), 1, len(y))), terms / scale[..., None]], 1
    )
    coef = _batched_nnls(np.swapaxes(design / y, 1, 2), ones)  # (G, 1+K)
    coef[:, 1:] /= scale
    logs = np.log(np.maximum(coef, 1e-300))
    out = np.empty((len(combos), 1 + 2 * K))
    out[:, 0], out[:, 1::2], out[:, 2::2] = logs[:, 0], logs[:, 1:], combos
    return np.clip(out, box[:, 0], box[:, 1])


def best_projected_starts(
    logx: np.ndarray, logy: np.ndarray, cfg: FitConfig, k: int, exponents=None
) -> np.ndarray:
    """The ``k`` variable-projection points with the lowest Huber objective, best first."""
    thetas = projected_thetas(logx, logy, cfg, exponents)
    values = grid_objective(thetas, logx, logy, cfg.huber_delta)
    return thetas[np.argsort(values, kind="stable")[:k]]


def to_natural(theta: np.ndarray) -> np.ndarray:
    """(..., e, a_1, alpha_1, ...) -> (..., E, A_1, alpha_1, ...): exponentiate floor and coefs."""
    out = np.array(theta, dtype=float, copy=True)
    out[..., 0] = np.exp(out[..., 0])
    out[..., 1::2] = np.exp(out[..., 1::2])
    return out


def fit_theta(
    logx: np.ndarray,
    logy: np.ndarray,
    cfg: FitConfig,
    extra_starts: np.ndarray | None = None,
) -> ThetaFit:
    """Multi-start fit: refine the best grid points (plus ``extra_starts``), keep the best."""
    if logx.shape[1] < logx.shape[0] * 2 + 1:
        raise ValueError(
            f"need at least {logx.shape[0] * 2 + 1} points to fit {logx.shape[0] * 2 + 1} "
            f"parameters, got {logx.shape[1]}"
        )
    # Variable projection finds the basin over the exponents alone; a few points of the full
    # grid keep starts in other basins, so a flat objective still shows its start spread.
    starts = np.vstack(
        [
            best_projected_starts(logx, logy, cfg, cfg.n_projected),
            best_grid_starts(logx, logy, cfg, cfg.n_refine),
        ]
    )
    if extra_starts is not None:
        starts = np.vstack([extra_starts, starts])
    results = refine(starts, logx, logy, cfg)
    if not results:
        raise ValueError("every start of the fit produced a non-finite objective")
    results.sort(key=lambda r: r[0])
    best_obj, best, n_iter = results[0]
    # Starts that tie with the best objective but land elsewhere reveal a flat, unidentified law.
    tie = 1e-6 * max(abs(best_obj), 1e-12)
    ref = to_natural(best)
    spread = 0.0
    for obj, th, _ in results[1:]:
        if obj - best_obj <= tie:
            rel = np.abs(to_natural(th) - ref) / np.maximum(np.abs(ref), 1e-12)
            spread = max(spread, float(rel.max()))
    box = np.array(bounds(logx.shape[0], cfg))
    width = box[:, 1] - box[:, 0]
    at_bound = tuple(
        int(i)
        for i in np.flatnonzero(
            (np.abs(best - box[:, 0]) < 1e-6 * width) | (np.abs(best - box[:, 1]) < 1e-6 * width)
        )
    )
    return ThetaFit(best, best_obj, at_bound, spread, n_iter)


def _log_inputs(*cols: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    arrays = [np.asarray(c, dtype=float) for c in cols]
    loss = np.asarray(loss, dtype=float)
    for name, arr in zip(("x", "loss"), (np.concatenate(arrays), loss), strict=True):
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(
                f"{name} values must be finite and > 0 to fit a power law in log space"
            )
    return np.log(np.vstack(arrays)), np.log(loss)


def fit_power_law(
    X: np.ndarray, loss: np.ndarray, x: str = "N", config: FitConfig | None = None
) -> PowerLawFit:
    """Fit L(X) = E + A X^-alpha with the robust multi-start procedure."""
    cfg = config or FitConfig()
    logx, logy = _log_inputs(X, loss=loss)
    res = fit_theta(logx, logy, cfg)
    names = ("E", "A", "alpha")
    e, a, alpha = res.theta
    return PowerLawFit(
        E=float(np.exp(e)),
        A=float(np.exp(a)),
        alpha=float(alpha),
        x=x,
        objective=res.objective,
        n_points=len(logy),
        at_bound=tuple(names[i] for i in res.at_bound),
        start_spread=res.start_spread,
    )


CHINCHILLA_LAYOUT: tuple[str, ...] = ("E", "A", "alpha", "B", "beta")
"""Names of theta's entries for the two-variable law, in the optimiser's order."""


def chinchilla_from_theta(theta: np.ndarray, **extra: object) -> ChinchillaFit:
    e, a, alpha, b, beta = theta
    return ChinchillaFit(
        E=float(np.exp(e)),
        A=float(np.exp(a)),
        B=float(np.exp(b)),
        alpha=float(alpha),
        beta=float(beta),
        **extra,
    )


def fit_chinchilla(
    N: np.ndarray, D: np.ndarray, loss: np.ndarray, config: FitConfig | None = None
) -> ChinchillaFit:
    """Fit L(N, D) = E + A/N^alpha + B/D^beta as in Chinchilla Approach 3."""
    cfg = config or FitConfig()
    logx, logy = _log_inputs(N, D, loss=loss)
    res = fit_theta(logx, logy, cfg)
    return chinchilla_from_theta(
        res.theta,
        objective=res.objective,
        n_points=len(logy),
        at_bound=tuple(CHINCHILLA_LAYOUT[i] for i in res.at_bound),
        start_spread=res.start_spread,
    )
