"""Approaches 1 and 2 recover the compute-optimal exponents of a known law."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.laws.frontier import (
    FrontierConfig,
    _robust_parabola,
    envelope_frontier,
    isoflop_budgets,
    isoflop_frontier,
)


def test_isoflop_minima_recover_exponents(isoflop_points, true_law):
    fit = isoflop_frontier(isoflop_points)
    assert len(fit.points) == 5 and fit.notes == ()
    assert fit.a == pytest.approx(true_law.a, abs=0.01)
    assert fit.b == pytest.approx(true_law.b, abs=0.01)
    np.testing.assert_allclose(fit.points["N"], true_law.n_opt(fit.points["C"]), rtol=0.1)
    assert fit.n_opt(1e23) == pytest.approx(true_law.n_opt(1e23), rel=0.15)


def test_envelope_of_final_runs_recovers_exponents(isoflop_points, true_law):
    fit = envelope_frontier(isoflop_points)
    # Sizes sit 0.25 decades apart over 4 decades of compute, so the envelope's slope can be
    # off by up to ~0.25 / 4; the IsoFLOP parabolas interpolate between sizes and do better.
    assert fit.a == pytest.approx(true_law.a, abs=0.05)
    assert fit.b == pytest.approx(true_law.b, abs=0.05)


def test_envelope_of_learning_curves_recovers_exponents(true_law):
    rows = []
    for N in np.geomspace(1e7, 1e10, 16):
        for D in np.geomspace(1e8, 1e12, 60):  # a run's curve: its loss as tokens grow
            rows.append(
                {
                    "id": f"{N:.0e}",
                    "N": N,
                    "D": D,
                    "C": 6 * N * D,
                    "loss": float(true_law.predict(N, D)),
                }
            )
    fit = envelope_frontier(pd.DataFrame(rows))
    assert fit.a == pytest.approx(true_law.a, abs=0.01)
    assert fit.b == pytest.approx(true_law.b, abs=0.01)
    assert len(fit.points) > 20  # thinned to a bin per 0.1 decade, not every curve point


def test_budgets_group_jittered_flops(isoflop_points):
    labels = isoflop_budgets(isoflop_points["C"].to_numpy(), FrontierConfig())
    assert sorted(np.bincount(labels)) == [9] * 5


def test_continuous_flops_are_not_an_isoflop_sweep(grid_points):
    with pytest.raises(ValueError, match="not an IsoFLOP sweep"):
        isoflop_frontier(grid_points)


def test_budget_without_an_interior_minimum_is_skipped_with_a_note(isoflop_points, true_law):
    # Keep only sizes below N_opt for the largest budget: its minimum is at the sampled edge.
    big = isoflop_points["C"] > 5e20
    edge = big & (isoflop_points["N"] > true_law.n_opt(1e21) * 0.9)
    fit = isoflop_frontier(isoflop_points[~edge])
    assert len(fit.points) == 4
    (note,) = fit.notes
    assert note.startswith(("C=9.9", "C=1.0")) and note.endswith(
        "minimum lies outside the sampled sizes"
    )


def test_too_few_envelope_points_is_a_clear_error():
    table = pd.DataFrame(
        {"N": [1e8, 1e8], "D": [1e9, 2e9], "C": [6e17, 1.2e18], "loss": [3.0, 2.9]}
    )
    with pytest.raises(ValueError, match="envelope: only"):
        envelope_frontier(table)


def test_robust_parabola_ignores_one_bad_run():
    x = np.linspace(0.0, 2.0, 9)
    y = 1.72 + 0.5 * (x - 1.2) ** 2
    y[3] += 0.3  # one run that went wrong
    c2, c1, _ = _robust_parabola(x, y)
    assert -c1 / (2 * c2) == pytest.approx(1.2, abs=1e-3)
    c2_ls, c1_ls, _ = np.polyfit(x, y, 2)
    assert abs(-c1_ls / (2 * c2_ls) - 1.2) > 0.02  # plain least squares is pulled away
