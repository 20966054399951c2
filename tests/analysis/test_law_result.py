"""analysis.laws.result: draws read by name, the shared curves, and one builder for every law."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.laws.result import (
    Draws,
    chinchilla_curves,
    estimates,
    frontier_curves,
    power_curves,
    used_runs,
)
from contract.results import RUN_ID


def test_draws_are_read_by_name_and_reordered_by_name():
    values = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    draws = Draws(values, ("E", "alpha", "A"))
    assert draws["A"].tolist() == [3.0, 6.0] and len(draws) == 2
    moved = draws.take(("E", "A", "alpha"))
    assert moved.names == ("E", "A", "alpha") and moved.values[:, 1].tolist() == [3.0, 6.0]
    with pytest.raises(ValueError, match="do not match"):
        Draws(values, ("E", "A"))
    with pytest.raises(ValueError):
        draws["beta"]


def test_curves_follow_their_laws_at_a_point_and_on_a_grid():
    power = Draws(np.array([[1.5, 100.0, 0.3], [1.4, 90.0, 0.25]]), ("E", "A", "alpha"))
    at = power_curves(power, 1e6)
    assert at == pytest.approx([1.5 + 100.0 * 1e6**-0.3, 1.4 + 90.0 * 1e6**-0.25])
    grid = power_curves(power, np.array([1e5, 1e6]))
    assert grid.shape == (2, 2) and grid[:, 1] == pytest.approx(at)
    # The same draws in another column order give the same curves: columns go by name.
    assert power_curves(power.take(("alpha", "E", "A")), 1e6) == pytest.approx(at)

    chin = Draws(np.array([[1.7, 400.0, 410.0, 0.34, 0.28]]), ("E", "A", "B", "alpha", "beta"))
    assert chin_value(chin) == pytest.approx(1.7 + 400.0 * 1e9**-0.34 + 410.0 * 2e10**-0.28)

    front = Draws(np.array([[0.5, np.log(0.1), 0.5, np.log(1.6)]]), ("a", "log_kn", "b", "log_kd"))
    n, d = frontier_curves(front, 1e20)
    assert n == pytest.approx([0.1 * 1e10]) and d == pytest.approx([1.6 * 1e10])
    n_grid, _ = frontier_curves(front, np.array([1e18, 1e20]))
    assert n_grid.shape == (1, 2) and n_grid[0, 1] == pytest.approx(n[0])


def chin_value(draws: Draws) -> float:
    return float(chinchilla_curves(draws, 1e9, 2e10)[0])


def test_estimates_without_a_bootstrap_are_point_values():
    est = estimates(Draws.empty(("E", "alpha")), {"E": 1.5, "alpha": 0.3}, 0.95)
    assert est["alpha"].value == 0.3 and np.isnan(est["alpha"].lo)


def test_used_runs_are_text_each_once():
    table = pd.DataFrame({RUN_ID: [7, 7, 8], "id": ["7@0.5", "7", "8"]})
    assert used_runs(table) == ("7", "8")
    assert used_runs(pd.DataFrame({"id": [1, 2, 2]})) == ("1", "2")


def test_every_law_is_built_with_named_draws(small_analysis):
    for name, res in small_analysis.results.items():
        draws = Draws.of(res)
        assert draws.names == res.sample_names, name
        assert all(isinstance(i, str) for i in res.used_ids), name
    chin = small_analysis.results["chinchilla"]
    assert chin.sample_names == ("E", "A", "B", "alpha", "beta")
    # The stored order is the one analysis.laws.forms.allocation reads: alpha's draws sit
    # around the fitted alpha, not around B's.
    assert np.median(Draws.of(chin)["alpha"]) == pytest.approx(chin.fit.alpha, rel=0.3)
