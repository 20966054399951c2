"""The proposer's choice: variance removed per FLOP, checked against hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.design.information import Candidate, choose, prediction_variance, run_information
from analysis.design.proposal import candidates, log_loss_jacobian, target_gradient
from analysis.laws.forms import ChinchillaFit, ComputeModel

SIGMA = 0.01


def toy(x: float, cost: float) -> Candidate:
    """A run of the toy law log L = theta0 + theta1 x (a power law in C, x = log10 C)."""
    return Candidate(x, np.array([[1.0, x]]), cost)


def test_on_a_toy_law_the_pick_is_the_hand_calculations_best():
    # Runs at x = 0 and 1, a forecast at x = 3. By hand, var(pred at 3) / sigma^2 is
    # 1/n + (3 - mean)^2 / Sxx: 13 now; 7/3 with a run at 2, 39/42 with one at 3 itself,
    # 29/6 with one at -1.
    info = sum(run_information(np.array([[1.0, x]]), SIGMA, 0.8) for x in (0.0, 1.0))
    g = np.array([1.0, 3.0])
    assert prediction_variance(info, g) / SIGMA**2 == pytest.approx(13.0)
    offered = [toy(2.0, 1.0), toy(3.0, 1.0), toy(-1.0, 1.0)]
    choice = choose(info, g, offered, allowance=1.0, sigma=SIGMA, shared=0.8)
    assert [c.key for c in choice.picked] == [3.0]  # equal costs: the target point
    assert choice.variance_after / SIGMA**2 == pytest.approx(39 / 42)
    # Costs in proportion to C = 10^x: removed variance per FLOP is 8.17/0.1 at -1, 10.67/100
    # at 2 and 12.07/1000 at 3, so -1 first; then 2 (4.83 -> 1.5) fits the 100 left, 3 does not.
    priced = [toy(2.0, 100.0), toy(3.0, 1000.0), toy(-1.0, 0.1)]
    choice = choose(info, g, priced, allowance=100.1, sigma=SIGMA, shared=0.8)
    assert [c.key for c in choice.picked] == [-1.0, 2.0]
    assert choice.steps[0][1] / SIGMA**2 == pytest.approx(29 / 6)
    assert choice.variance_after / SIGMA**2 == pytest.approx(1.5)
    assert choice.cost == pytest.approx(100.1)


def test_points_of_one_run_share_their_noise():
    # Two points of one run move together: their level is known worse than that of two runs,
    # their difference (a slope) better, as the shared part cancels.
    J = np.array([[1.0, 0.0], [1.0, 1.0]])
    apart = run_information(J[:1], SIGMA, 0.8) + run_information(J[1:], SIGMA, 0.8)
    together = run_information(J, SIGMA, 0.8)
    level, slope = np.array([1.0, 0.5]), np.array([0.0, 1.0])
    assert prediction_variance(together, level) > prediction_variance(apart, level)
    assert prediction_variance(together, slope) < prediction_variance(apart, slope)
    assert prediction_variance(together, slope) == pytest.approx(2 * 0.2 * SIGMA**2)


def test_the_target_gradient_is_the_derivative_of_the_optimal_loss():
    law = ChinchillaFit(E=0.82, A=42.8, B=315.5, alpha=0.4665, beta=0.4543)
    law = law._replace(compute=ComputeModel(math.log(962.0), -0.506, 6.42, (1e11, 4e12)))
    theta = np.array([math.log(law.E), math.log(law.A), law.alpha, math.log(law.B), law.beta])

    def log_opt(t: np.ndarray) -> float:
        fit = ChinchillaFit(math.exp(t[0]), math.exp(t[1]), math.exp(t[3]), t[2], t[4])
        return math.log(float(fit._replace(compute=law.compute).loss_opt(1.6e13)))

    step = 1e-5
    numeric = [
        (log_opt(theta + step * e) - log_opt(theta - step * e)) / (2 * step) for e in np.eye(5)
    ]
    assert target_gradient(law, 1.6e13) == pytest.approx(numeric, rel=1e-3, abs=1e-6)
    n, d = 3e5, 6e6
    jac = log_loss_jacobian(law, n, d)[0]
    point = [
        (
            math.log(ChinchillaFit(*np.exp(t[[0, 1, 3]]), t[2], t[4]).predict(n, d))
            - math.log(law.predict(n, d))
        )
        / step
        for t in (theta + step * e for e in np.eye(5))
    ]
    assert jac == pytest.approx(point, rel=1e-3, abs=1e-6)


def test_no_candidate_sits_below_the_sweeps_smallest_budget():
    # The law is the sweep's own fit; below its smallest budget it was never measured (and on
    # real text it broke there), so the candidates stay at and above the budgets it ran.
    law = ChinchillaFit(E=0.82, A=42.8, B=315.5, alpha=0.4665, beta=0.4543)
    law = law._replace(compute=ComputeModel(math.log(962.0), -0.506, 6.42, (1e11, 4e12)))
    budgets = [1.25e11, 2.5e11, 5e11, 1e12]
    rows = []
    for b in budgets:
        for step in (-1.0, 0.0, 1.0):
            n = float(law.n_opt(b)) * 2.0**step
            d = float(law.compute.tokens(b, n))
            rows.append({"id": f"r{len(rows)}", "N": n, "D": d, "budget": b})
    points = pd.DataFrame(rows).assign(loss=lambda t: law.predict(t["N"], t["D"]))
    offered = candidates(law, points, 4e12, [1.0], cost_factor=1.0)
    kinds = {run.kind for run, _ in offered}
    assert kinds == {"size", "budget above", "repeat"}
    assert min(run.budget for run, _ in offered) == pytest.approx(min(budgets))
    assert max(run.budget for run, _ in offered) == pytest.approx(4e12)


def test_a_floor_keeps_the_points_approach_3_will_not_fit_out_of_the_plan():
    """With the sweep's `approach3_min_tokens_per_param`, a candidate's points under it carry
    no information (Approach 3 will not fit them), and a run with none left is not offered."""
    law = ChinchillaFit(E=0.82, A=42.8, B=315.5, alpha=0.4665, beta=0.4543)
    rows = []
    for b in (1e11, 2e11, 4e11, 8e11):
        for step in (-1.0, 0.0, 1.0):
            n = float(law.n_opt(b)) * 2.0**step
            rows.append({"id": f"r{len(rows)}", "N": n, "D": float(law.compute.tokens(b, n))})
            rows[-1]["budget"] = b
    points = pd.DataFrame(rows).assign(loss=lambda t: law.predict(t["N"], t["D"]))
    every = candidates(law, points, 3.2e12, [0.5, 1.0], cost_factor=1.0)
    ratios = [float(law.compute.tokens(r.budget, r.N)) / r.N for r, _ in every]
    floor = float(np.median(ratios))
    floored = candidates(law, points, 3.2e12, [0.5, 1.0], cost_factor=1.0, floor=floor)
    rows_of = {run: len(c.jacobian) for run, c in floored}
    for run, c in every:
        end = float(law.compute.tokens(run.budget, run.N)) / run.N
        expected = 2 if end / 2 >= floor else 1 if end >= floor else 0
        assert rows_of.get(run, 0) == expected and len(c.jacobian) == 2
