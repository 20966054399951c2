"""Scaling-law forms and the typed results of fitting them.

Every law here is a sum of power-law terms plus an irreducible floor, fitted in log space as
log L = LSE(a_1 - alpha_1 log X_1, ..., e), so one objective (``analysis.fitting``) serves the
single-variable law L(X) = E + A X^-alpha and the joint law L(N, D) = E + A/N^alpha + B/D^beta.

    fit = ChinchillaFit(E=1.82, A=482.0, B=2085.4, alpha=0.348, beta=0.366)
    fit.predict(N=1e9, D=2e10)        # loss of a 1B model trained on 20B tokens
    fit.n_opt(1e24), fit.tokens_per_param(1e24)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

VARIABLES: tuple[str, ...] = ("N", "D", "C")
"""Canonical axes: N = non-embedding parameters, D = training tokens, C = training FLOPs."""

FLOPS_PER_PARAM_TOKEN = 6.0
"""C = 6 N D: forward plus backward FLOPs per parameter per token (Kaplan et al. 2020)."""


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
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Compute-optimal exponent of D_opt ∝ C^b."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """Allocation constant: N_opt = G (C/6)^a, D_opt = (C/6)^b / G."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def n_opt(self, C: np.ndarray | float) -> np.ndarray:
        """Loss-minimising parameter count at compute ``C`` (FLOPs) under C = 6 N D."""
        return self.G * (np.asarray(C, dtype=float) / FLOPS_PER_PARAM_TOKEN) ** self.a

    def d_opt(self, C: np.ndarray | float) -> np.ndarray:
        """Loss-minimising token count at compute ``C`` (FLOPs)."""
        return (np.asarray(C, dtype=float) / FLOPS_PER_PARAM_TOKEN) ** self.b / self.G

    def tokens_per_param(self, C: np.ndarray | float) -> np.ndarray:
        """D_opt / N_opt at compute ``C``."""
        return self.d_opt(C) / self.n_opt(C)

    def loss_opt(self, C: np.ndarray | float) -> np.ndarray:
        """Lowest reachable loss at compute ``C`` (the compute-optimal frontier)."""
        return self.predict(self.n_opt(C), self.d_opt(C))


def chinchilla_arrays(params: np.ndarray, C: float | None = None) -> dict[str, np.ndarray]:
    """Vectorised derived quantities for many parameter sets at once (e.g. bootstrap samples).

    ``params`` is (R, 5) in the order E, A, B, alpha, beta; every returned array is (R,):
    a, b, and with a budget ``C`` (FLOPs) also N_opt, D_opt, tokens_per_param and loss_opt.
    """
    E, A, B, alpha, beta = params.T
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a, b = beta / (alpha + beta), alpha / (alpha + beta)
        out = {"a": a, "b": b}
        if C is not None:
            G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
            n_opt = G * (C / FLOPS_PER_PARAM_TOKEN) ** a
            d_opt = (C / FLOPS_PER_PARAM_TOKEN) ** b / G
            out["N_opt"], out["D_opt"] = n_opt, d_opt
            out["tokens_per_param"] = d_opt / n_opt
            out["loss_opt"] = E + A * n_opt ** (-alpha) + B * d_opt ** (-beta)
    return out


def derive_missing(
    N: np.ndarray | None, D: np.ndarray | None, C: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Fill one missing axis from the other two with C = 6 N D."""
    if D is None and N is not None and C is not None:
        D = C / (FLOPS_PER_PARAM_TOKEN * N)
    if C is None and N is not None and D is not None:
        C = FLOPS_PER_PARAM_TOKEN * N * D
    if N is None and D is not None and C is not None:
        N = C / (FLOPS_PER_PARAM_TOKEN * D)
    return N, D, C
