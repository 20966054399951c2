"""Scaling-law forms and the typed results of fitting them.

Every law here is a sum of power-law terms plus an irreducible floor, fitted in log space as
log L = LSE(a_1 - alpha_1 log X_1, ..., e), so one objective (``analysis.fit.power_sums``) serves the
single-variable law L(X) = E + A X^-alpha and the joint law L(N, D) = E + A/N^alpha + B/D^beta.

    fit = ChinchillaFit(E=1.82, A=482.0, B=2085.4, alpha=0.348, beta=0.366)
    fit.predict(N=1e9, D=2e10)        # loss of a 1B model trained on 20B tokens
    fit.n_opt(1e24), fit.tokens_per_param(1e24)       # allocations use fit.compute (C = kND)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from contract.compute import APPROX_FLOPS_PER_PARAM_TOKEN

VARIABLES: tuple[str, ...] = ("N", "D", "C")
"""Canonical axes: N = non-embedding parameters, D = training tokens, C = training FLOPs."""


class ComputeModel(NamedTuple):
    """Training FLOPs per parameter per token as the table records them: C = k(N) N D.

    A sweep's ``flops`` column is 3 x forward FLOPs x tokens (``contract.compute``), which
    counts attention and the output layer, so C / (N D) is well above 6 for small models and
    falls towards a constant (6 plus attention's share) as N grows. Allocations (N*(C), D*(C))
    must turn a budget into tokens with the same k the runs were charged, so
    k(N) = k_inf + K N^kappa is fitted to the rows. The constant matters: a pure power law
    (k_inf = 0) keeps falling past the sizes measured, and on the main job's 6.7k-220k sizes it
    moved Approach 3's a from 0.507 to 0.551 (noise-free losses from a known law,
    ``bench/design_check.py``). A table without FLOPs gets C = 6ND exactly.
    """

    log_k: float = math.log(APPROX_FLOPS_PER_PARAM_TOKEN)
    """log K (natural log of the N-dependent term's FLOPs per parameter per token at N = 1)."""
    kappa: float = 0.0
    """Exponent of the N-dependent term (dimensionless; 0 for C = 6ND)."""
    k_inf: float = 0.0
    """FLOPs per parameter per token that do not fall with N (0: a pure power law)."""
    c_range: tuple[float, float] | None = None
    """Smallest and largest C of the rows: where a and b, slopes of N*(C) and D*(C) that vary
    with C once k_inf > 0, are measured (as a secant, like Approach 2's fit over budgets)."""

    @classmethod
    def estimate(cls, N: np.ndarray, D: np.ndarray, C: np.ndarray) -> ComputeModel:
        """Least-squares fit of log(C / (N D)) = log(k_inf + K N^kappa) over the rows: for each
        k_inf on a grid below the smallest k, log(k - k_inf) is linear in log N."""
        N, D, C = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (N, D, C)))
        ok = np.isfinite(N * D * C) & (N > 0) & (D > 0) & (C > 0)
        k, logn = C[ok] / (N[ok] * D[ok]), np.log(N[ok])
        if len(k) == 0:
            return cls()
        c_range = (float(C[ok].min()), float(C[ok].max()))
        if len(np.unique(logn)) < 2 or np.ptp(np.log(k)) < 1e-9:
            return cls(float(np.mean(np.log(k))), 0.0)
        if len(np.unique(logn)) < 3:  # two sizes: a power law through them, nothing more
            kappa, log_k = np.polyfit(logn, np.log(k), 1)
            return cls(float(log_k), float(kappa))

        def fit(k_inf: float) -> tuple[float, float, float, float]:
            kappa, log_k = np.polyfit(logn, np.log(k - k_inf), 1)
            pred = np.log(k_inf + np.exp(log_k + kappa * logn))
            return float(np.sum((pred - np.log(k)) ** 2)), float(log_k), float(kappa), k_inf

        grid = np.linspace(0.0, 0.98, 50) * k.min()
        for _ in range(3):  # a coarse grid, then two finer ones around its best point
            best = min((fit(float(v)) for v in grid), key=lambda r: r[0])
            step = grid[1] - grid[0]
            grid = np.linspace(max(0.0, best[3] - step), min(0.98 * k.min(), best[3] + step), 21)
        _, log_k, kappa, k_inf = best
        return cls(log_k, kappa, k_inf, c_range if k_inf > 0 else None)

    def k(self, N: np.ndarray | float) -> np.ndarray:
        """FLOPs per parameter per token of a model with ``N`` parameters."""
        return self.k_inf + np.exp(self.log_k) * np.asarray(N, dtype=float) ** self.kappa

    def elasticity(self, N: np.ndarray | float) -> np.ndarray:
        """d log k / d log N at ``N`` (kappa for a pure power law)."""
        term = np.exp(self.log_k) * np.asarray(N, dtype=float) ** self.kappa
        return self.kappa * term / (self.k_inf + term)

    def flops(self, N: np.ndarray | float, D: np.ndarray | float) -> np.ndarray:
        return self.k(N) * np.asarray(N, dtype=float) * np.asarray(D, dtype=float)

    def tokens(self, C: np.ndarray | float, N: np.ndarray | float) -> np.ndarray:
        """Tokens a model of ``N`` parameters trains on within ``C`` FLOPs."""
        return np.asarray(C, dtype=float) / (self.k(N) * np.asarray(N, dtype=float))

    @property
    def is_6nd(self) -> bool:
        return (
            self.k_inf == 0.0 and abs(self.kappa) < 1e-9 and abs(self.log_k - math.log(6.0)) < 1e-9
        )

    def describe(self) -> str:
        if self.is_6nd:
            return "C = 6ND"
        if self.k_inf > 0:
            return (
                f"C = k(N) N D, k(N) = {self.k_inf:.3g} + {math.exp(self.log_k):.3g} "
                f"N^{self.kappa:+.3f}"
            )
        return f"C = k(N) N D, k(N) = {math.exp(self.log_k):.3g} N^{self.kappa:+.3f}"


APPROX_6ND = ComputeModel()
"""The labelled approximation for tables that record no FLOPs."""


class Estimate(NamedTuple):
    """A point estimate with its bootstrap percentile interval and standard error.

    ``lo``, ``hi`` and ``se`` are NaN when no bootstrap was run.
    """

    value: float
    lo: float = math.nan
    hi: float = math.nan
    se: float = math.nan

    def as_dict(self) -> dict[str, float | None]:
        """Plain JSON-ready dict; NaN becomes None so the file stays valid JSON."""
        return {k: (None if not math.isfinite(v) else float(v)) for k, v in self._asdict().items()}


class PowerLawFit(NamedTuple):
    """L(X) = E + A * X^-alpha fitted to one variable ``x`` (``"N"``, ``"D"`` or ``"C"``)."""

    E: float
    A: float
    alpha: float
    x: str = "N"
    objective: float = math.nan
    """Summed Huber loss at the optimum (log-loss units)."""
    n_points: int = 0
    at_bound: tuple[str, ...] = ()
    """Parameters that ended on a bound of the search box (a sign the law does not fit)."""
    start_spread: float = 0.0
    """Largest relative parameter difference among starts that reached the best objective."""

    def predict(self, X: np.ndarray | float) -> np.ndarray:
        """Loss at ``X`` (same unit as the fitted column)."""
        return self.E + self.A * np.asarray(X, dtype=float) ** (-self.alpha)

    @property
    def params(self) -> dict[str, float]:
        return {"E": self.E, "A": self.A, "alpha": self.alpha}


class ChinchillaFit(NamedTuple):
    """L(N, D) = E + A / N^alpha + B / D^beta (Chinchilla Approach 3)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    objective: float = math.nan
    """Summed Huber loss at the optimum (log-loss units)."""
    n_points: int = 0
    at_bound: tuple[str, ...] = ()
    start_spread: float = 0.0
    compute: ComputeModel = APPROX_6ND
    """How the table's C relates to N and D; every allocation uses it."""

    def predict(self, N: np.ndarray | float, D: np.ndarray | float) -> np.ndarray:
        """Loss of a model with ``N`` parameters trained on ``D`` tokens."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        return self.E + self.A * N ** (-self.alpha) + self.B * D ** (-self.beta)

    @property
    def params(self) -> dict[str, float]:
        return {"E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha, "beta": self.beta}

    @property
    def a(self) -> float:
        """Compute-optimal exponent of N_opt ∝ C^a."""
        return float(allocation(np.array([list(self.params.values())]), 1.0, self.compute)["a"][0])

    @property
    def b(self) -> float:
        """Compute-optimal exponent of D_opt ∝ C^b."""
        return float(allocation(np.array([list(self.params.values())]), 1.0, self.compute)["b"][0])

    def _alloc(self, C: np.ndarray | float) -> dict[str, np.ndarray]:
        C = np.asarray(C, dtype=float)
        out = allocation(np.array([list(self.params.values())]), C.reshape(-1), self.compute)
        return {k: v[0].reshape(C.shape) if v.ndim == 2 else v for k, v in out.items()}

    def n_opt(self, C: np.ndarray | float) -> np.ndarray:
        """Loss-minimising parameter count at compute ``C`` (FLOPs) under ``compute``."""
        return self._alloc(C)["N_opt"]

    def d_opt(self, C: np.ndarray | float) -> np.ndarray:
        """Loss-minimising token count at compute ``C`` (FLOPs)."""
        return self._alloc(C)["D_opt"]

    def tokens_per_param(self, C: np.ndarray | float) -> np.ndarray:
        """D_opt / N_opt at compute ``C``."""
        return self.d_opt(C) / self.n_opt(C)

    def loss_opt(self, C: np.ndarray | float) -> np.ndarray:
        """Lowest reachable loss at compute ``C`` (the compute-optimal frontier)."""
        return self._alloc(C)["loss_opt"]


def allocation(
    params: np.ndarray, C: np.ndarray | float, compute: ComputeModel = APPROX_6ND
) -> dict[str, np.ndarray]:
    """Compute-optimal allocation for many parameter sets and budgets at once.

    ``params`` is (R, 5) in the order E, A, B, alpha, beta; ``C`` a scalar or (G,) budgets.
    With C = K N^(1+kappa) D, minimising A N^-alpha + B D^-beta along the budget gives
    N_opt = [alpha A / ((1+kappa) beta B K^beta)]^(1/s) C^(beta/s), s = alpha + (1+kappa) beta,
    and D_opt = C / (K N_opt^(1+kappa)); with K = 6, kappa = 0 this is Chinchilla's closed form.
    With a constant term in k(N) there is no closed form: N_opt is found by bisection on the
    derivative along the budget, and a, b are the secant slopes over ``compute.c_range``.
    Returns a, b (R,) and N_opt, D_opt, tokens_per_param, loss_opt (R, G) (or (R,) for scalar C).
    """
    E, A, B, alpha, beta = (col[:, None] for col in np.asarray(params, dtype=float).T)
    scalar = np.ndim(C) == 0
    C = np.atleast_1d(np.asarray(C, dtype=float))[None, :]  # (1, G)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if compute.k_inf > 0:
            n_opt = _optimal_n(A, B, alpha, beta, C, compute)
            lo, hi = compute.c_range or (float(C.min()), float(C.max()))
            c_ends = np.array([[lo, hi]])
            n_ends = _optimal_n(A, B, alpha, beta, c_ends, compute)  # (R, 2)
            d_ends = compute.tokens(c_ends, n_ends)
            span = math.log(hi / lo) if hi > lo else math.nan
            a = np.diff(np.log(n_ends), axis=1) / span
            b = np.diff(np.log(d_ends), axis=1) / span
        else:
            K, p = math.exp(compute.log_k), 1.0 + compute.kappa
            s = alpha + p * beta
            a = beta / s
            b = 1.0 - p * a
            log_g = (np.log(alpha * A) - np.log(p * beta * B) - beta * math.log(K)) / s
            n_opt = np.exp(log_g + a * np.log(C))
        d_opt = compute.tokens(C, n_opt)
        out = {
            "a": a[:, 0],
            "b": b[:, 0],
            "N_opt": n_opt,
            "D_opt": d_opt,
            "tokens_per_param": d_opt / n_opt,
            "loss_opt": E + A * n_opt ** (-alpha) + B * d_opt ** (-beta),
        }
    if scalar:
        out = {k: (v[:, 0] if v.ndim == 2 else v) for k, v in out.items()}
    return out


def _optimal_n(
    A: np.ndarray,
    B: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    C: np.ndarray,
    compute: ComputeModel,
    iterations: int = 90,
) -> np.ndarray:
    """N minimising A N^-alpha + B D^-beta with D = C / (k(N) N), for (R, 1) parameters and
    (1, G) budgets, by bisection in log N on the sign of the derivative along the budget:
    -alpha A N^-alpha + beta B D^-beta (1 + d log k / d log N), negative below the optimum."""
    lo = np.zeros(np.broadcast_shapes(A.shape, C.shape))
    hi = np.full_like(lo, math.log(1e16))
    for _ in range(iterations):
        u = (lo + hi) / 2
        n = np.exp(u)
        d = compute.tokens(C, n)
        slope = -alpha * A * n ** (-alpha) + beta * B * d ** (-beta) * (1 + compute.elasticity(n))
        below = slope < 0
        lo, hi = np.where(below, u, lo), np.where(below, hi, u)
    return np.exp((lo + hi) / 2)


def chinchilla_arrays(
    params: np.ndarray, C: float | None = None, compute: ComputeModel = APPROX_6ND
) -> dict[str, np.ndarray]:
    """Derived quantities of many parameter sets (e.g. bootstrap samples) at one budget ``C``.

    ``params`` is (R, 5) in the order E, A, B, alpha, beta; every returned array is (R,).
    """
    out = allocation(params, 1.0 if C is None else C, compute)
    return out if C is not None else {"a": out["a"], "b": out["b"]}


def derive_missing(
    N: np.ndarray | None,
    D: np.ndarray | None,
    C: np.ndarray | None,
    compute: ComputeModel = APPROX_6ND,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Fill one missing axis from the other two with ``compute`` (C = 6ND unless given).

    Only for tables that lack an axis: a sweep records N, D and C, and those are used as is.
    """
    if D is None and N is not None and C is not None:
        D = compute.tokens(C, N)
    if C is None and N is not None and D is not None:
        C = compute.flops(N, D)
    if N is None and D is not None and C is not None:
        if compute.kappa != 0.0:
            raise ValueError("N cannot be derived from C and D when k(N) depends on N")
        N = C / (compute.k(1.0) * D)
    return N, D, C
