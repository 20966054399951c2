"""Scaling-law forms and the typed results of fitting them.

Every law here is a sum of power-law terms plus an irreducible floor, fitted in log space as
log L = LSE(a_1 - alpha_1 log X_1, ..., e), so one objective (``analysis.fitting``) serves the
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
    falls towards 6 as N grows. Allocations (N*(C), D*(C)) must turn a budget into tokens with
    the same k the runs were charged, so k(N) = K N^kappa is fitted (log-log in N) to the rows.
    A table without FLOPs gets C = 6ND, i.e. K = 6, kappa = 0 exactly.
    """

    log_k: float = math.log(APPROX_FLOPS_PER_PARAM_TOKEN)
    """log K (natural log of FLOPs per parameter per token at N = 1)."""
    kappa: float = 0.0
    """Exponent of k(N) in N (dimensionless; 0 for C = 6ND)."""

    @classmethod
    def estimate(cls, N: np.ndarray, D: np.ndarray, C: np.ndarray) -> ComputeModel:
        """Least-squares fit of log(C / (N D)) = log K + kappa log N over the rows."""
        N, D, C = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (N, D, C)))
        ok = np.isfinite(N * D * C) & (N > 0) & (D > 0) & (C > 0)
        logk, logn = np.log(C[ok] / (N[ok] * D[ok])), np.log(N[ok])
        if len(logk) == 0:
            return cls()
        if len(np.unique(logn)) < 2 or np.ptp(logk) < 1e-9:
            return cls(float(np.mean(logk)), 0.0)
        kappa, log_k = np.polyfit(logn, logk, 1)
        return cls(float(log_k), float(kappa))

    def k(self, N: np.ndarray | float) -> np.ndarray:
        """FLOPs per parameter per token of a model with ``N`` parameters."""
        return np.exp(self.log_k) * np.asarray(N, dtype=float) ** self.kappa

    def flops(self, N: np.ndarray | float, D: np.ndarray | float) -> np.ndarray:
        return self.k(N) * np.asarray(N, dtype=float) * np.asarray(D, dtype=float)

    def tokens(self, C: np.ndarray | float, N: np.ndarray | float) -> np.ndarray:
        """Tokens a model of ``N`` parameters trains on within ``C`` FLOPs."""
        return np.asarray(C, dtype=float) / (self.k(N) * np.asarray(N, dtype=float))

    @property
    def is_6nd(self) -> bool:
        return abs(self.kappa) < 1e-9 and abs(self.log_k - math.log(6.0)) < 1e-9

    def describe(self) -> str:
        if self.is_6nd:
            return "C = 6ND"
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
    Returns a, b (R,) and N_opt, D_opt, tokens_per_param, loss_opt (R, G) (or (R,) for scalar C).
    """
    E, A, B, alpha, beta = (col[:, None] for col in np.asarray(params, dtype=float).T)
    scalar = np.ndim(C) == 0
    C = np.atleast_1d(np.asarray(C, dtype=float))[None, :]  # (1, G)
    K, p = math.exp(compute.log_k), 1.0 + compute.kappa
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = alpha + p * beta
        a = beta / s
        log_g = (np.log(alpha * A) - np.log(p * beta * B) - beta * math.log(K)) / s
        n_opt = np.exp(log_g + a * np.log(C))
        d_opt = C / (K * n_opt**p)
        out = {
            "a": a[:, 0],
            "b": (1.0 - p * a)[:, 0],
            "N_opt": n_opt,
            "D_opt": d_opt,
            "tokens_per_param": d_opt / n_opt,
            "loss_opt": E + A * n_opt ** (-alpha) + B * d_opt ** (-beta),
        }
    if scalar:
        out = {k: (v[:, 0] if v.ndim == 2 else v) for k, v in out.items()}
    return out


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
        N = C / (np.exp(compute.log_k) * D)
    return N, D, C
