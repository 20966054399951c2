"""Allocations use the table's own C(N, D), not C = 6ND; 6ND only for tables without FLOPs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.laws.forms import APPROX_6ND, ComputeModel, allocation
from analysis.load.sweep_tables import load_scaling_data


def test_six_nd_tables_give_exactly_six():
    N, D = np.geomspace(1e6, 1e9, 7), np.geomspace(1e8, 1e10, 7)
    model = ComputeModel.estimate(N, D, 6 * N * D)
    assert model.is_6nd and model.kappa == 0.0 and np.exp(model.log_k) == pytest.approx(6.0)


def test_recorded_flops_give_the_allocation_on_the_same_budget(true_law):
    # 3 x forward FLOPs with an attention/head term that is large at small N (k > 6 there).
    N = np.geomspace(1e5, 1e9, 12)
    D = np.full_like(N, 1e9)
    C = 3 * (2 * N + 4e3 * N**0.6) * D
    model = ComputeModel.estimate(N, D, C)
    assert model.kappa < -0.05  # C / (N D) falls with N
    fit = true_law._replace(compute=model)
    budget = 1e20
    n, d = fit.n_opt(budget), fit.d_opt(budget)
    assert model.flops(n, d) == pytest.approx(budget)  # the allocation spends exactly C
    grid = n * np.geomspace(0.5, 2.0, 4001)
    losses = true_law.predict(grid, model.tokens(budget, grid))
    assert grid[np.argmin(losses)] == pytest.approx(n, rel=1e-3)  # and is the minimum
    # Assuming 6ND on such a table would put N* elsewhere (k is still about 9.6 at N*).
    assert abs(true_law.n_opt(budget) / n - 1) > 0.03
    assert fit.a != pytest.approx(true_law.a, abs=1e-3)


def test_allocation_matches_the_chinchilla_closed_form_under_6nd(true_law):
    G = (true_law.alpha * true_law.A / (true_law.beta * true_law.B)) ** (
        1 / (true_law.alpha + true_law.beta)
    )
    out = allocation(np.array([list(true_law.params.values())]), 1e22, APPROX_6ND)
    assert out["N_opt"][0] == pytest.approx(G * (1e22 / 6) ** true_law.a)


def test_a_sweep_folder_reports_recorded_flops(tmp_path):
    N = np.repeat([1e5, 1e6, 1e7], 3)
    D = np.tile([1e7, 1e8, 1e9], 3)
    frame = pd.DataFrame(
        {
            "trial_id": [f"t{i}" for i in range(9)],
            "status": "TERMINATED",
            "params": N,
            "tokens": D,
            "flops": 3 * (2 * N + 1e3 * N**0.5) * D,
            "eval/loss": 2 + 50 * N**-0.3 + 60 * D**-0.3,
        }
    )
    frame.to_csv(tmp_path / "trials.csv", index=False)
    data = load_scaling_data(tmp_path)
    assert "recorded training FLOPs (column 'flops')" in data.c_source
    assert not data.compute.is_6nd and data.compute.kappa < 0
    assert (data.points["run_id"] == data.points["id"]).all()  # a sweep's trial is one run


def test_a_constant_term_is_recovered_and_the_allocation_is_the_minimum_along_the_budget(true_law):
    # k(N) = 6.4 + 900 N^-0.5: 6ND plus attention and output-layer terms that fade with N.
    N = np.geomspace(5e3, 3e5, 24)
    D = np.geomspace(1e6, 1e7, 24)[::-1]
    C = (6.4 + 900 * N**-0.5) * N * D
    model = ComputeModel.estimate(N, D, C)
    assert model.k_inf == pytest.approx(6.4, rel=0.03)
    assert model.kappa == pytest.approx(-0.5, abs=0.03)
    assert model.k(N) == pytest.approx(C / (N * D), rel=1e-3)
    assert model.c_range == (pytest.approx(C.min()), pytest.approx(C.max()))
    assert "6.4" in model.describe()
    fit = true_law._replace(compute=model)
    for budget in (1e11, 1e12):
        n = float(fit.n_opt(budget))
        assert model.flops(n, fit.d_opt(budget)) == pytest.approx(budget)
        grid = n * np.geomspace(0.5, 2.0, 4001)
        losses = true_law.predict(grid, model.tokens(budget, grid))
        assert grid[np.argmin(losses)] == pytest.approx(n, rel=1e-3)
    # a is the secant slope of N*(C) over the rows' C, as Approach 2 measures it over budgets.
    lo, hi = model.c_range
    secant = np.log(fit.n_opt(hi) / fit.n_opt(lo)) / np.log(hi / lo)
    assert fit.a == pytest.approx(float(secant), rel=1e-6)
    # A pure power law fitted to the same rows keeps falling past them and tilts a.
    power = ComputeModel(*np.polyfit(np.log(N), np.log(C / (N * D)), 1)[::-1])
    assert abs(true_law._replace(compute=power).a - fit.a) > 0.01
