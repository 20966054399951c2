"""How much new runs would narrow a fitted law's prediction, linearised, and which runs to buy.

Near its fit, a law's log-loss prediction at a point moves with its parameters theta by the
point's Jacobian row J = d log L / d theta. A run's points share part of their noise (a run's
cooldown points and its end move together), so a run adds J_r^T S_r^-1 J_r to the Fisher
information, S_r its points' noise covariance; the variance of any predicted quantity q(theta)
is then g^T I^-1 g with g = dq / dtheta. This is the small-noise limit of refitting simulated
losses (``analysis.design.proposal`` checks its picks that way), and it is cheap enough to
score every candidate run at every step of a greedy choice by variance removed per FLOP.

    info = sum(run_information(J, sigma=0.015, shared=0.8) for J in jacobians)
    prediction_variance(info, g)                       # var of q in q's units squared
    choice = choose(info, g, candidates, allowance=1e13, sigma=0.015, shared=0.8)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

RCOND = 1e-10
"""Relative cut-off of the pseudo-inverse: directions the data leave unidentified (a floor E
no run reaches) count as unknown rather than blowing the variance up to 1e30."""


@dataclass(frozen=True)
class Candidate:
    """A run that could be bought: its points' Jacobian rows and what it costs."""

    key: Hashable
    """What identifies the run (e.g. (budget, N, kind)); each candidate is bought at most once."""
    jacobian: np.ndarray
    """(points, parameters): d log L / d theta at each point the run yields."""
    cost: float
    """FLOPs of the run (its cooldown branches included)."""


@dataclass(frozen=True)
class Choice:
    """The runs picked, in order, and the variance of the prediction before and after."""

    picked: list[Candidate]
    variance_before: float
    variance_after: float
    steps: list[tuple[Hashable, float]] = field(default_factory=list)
    """(key, variance after buying it) per pick, in order."""

    @property
    def cost(self) -> float:
        return float(sum(c.cost for c in self.picked))


def run_information(jacobian: np.ndarray, sigma: float, shared: float) -> np.ndarray:
    """Fisher information of one run's points: J^T S^-1 J with S = sigma^2 ((1 - shared) I +
    shared 11^T), the run's points sharing ``shared`` of their noise variance."""
    J = np.atleast_2d(np.asarray(jacobian, dtype=float))
    k = len(J)
    cov = sigma**2 * ((1.0 - shared) * np.eye(k) + shared * np.ones((k, k)))
    return J.T @ np.linalg.solve(cov, J)


def prediction_variance(info: np.ndarray, gradient: np.ndarray) -> float:
    """g^T I^+ g: the variance of a prediction whose gradient in theta is ``gradient``."""
    g = np.asarray(gradient, dtype=float)
    return float(g @ np.linalg.pinv(info, rcond=RCOND, hermitian=True) @ g)


def choose(
    info: np.ndarray,
    gradient: np.ndarray,
    candidates: Sequence[Candidate],
    allowance: float,
    sigma: float,
    shared: float,
) -> Choice:
    """Greedy, as sequential experiment design does: buy the affordable candidate that removes
    the most prediction variance per FLOP, until nothing affordable removes any. A search over
    subsets would grow exponentially with the candidates; this takes milliseconds."""
    current = np.array(info, dtype=float)
    before = var = prediction_variance(current, gradient)
    left, budget = list(candidates), float(allowance)
    picked: list[Candidate] = []
    steps: list[tuple[Hashable, float]] = []
    added = {id(c): run_information(c.jacobian, sigma, shared) for c in left}
    while True:
        best, best_gain, best_var = None, 0.0, var
        for cand in left:
            if cand.cost > budget:
                continue
            new_var = prediction_variance(current + added[id(cand)], gradient)
            gain = (var - new_var) / cand.cost
            if gain > best_gain * (1 + 1e-12):
                best, best_gain, best_var = cand, gain, new_var
        if best is None:
            break
        picked.append(best)
        steps.append((best.key, best_var))
        current = current + added[id(best)]
        budget -= best.cost
        var = best_var
        left.remove(best)
    return Choice(picked, before, var, steps)
