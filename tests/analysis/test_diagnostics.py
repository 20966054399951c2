"""Each reliability check warns on the case it exists for and stays quiet on a healthy one.

One test per check (design, identification, agreement, calibration, horizon), so removing a
check fails its test; the thresholds are ``TrustConfig``'s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.checks.backtest import BacktestResult, leave_one_budget_out
from analysis.checks.calibration import check_backtest_errors, check_calibration, miscoverage
from analysis.checks.trust import (
    TrustConfig,
    check_bootstrap,
    check_budget_span,
    check_design_points,
    check_edge_minima,
    check_horizon,
    check_identification,
    check_inapplicable,
    check_metric_mode,
)
from analysis.laws.forms import Estimate, PowerLawFit

CFG = TrustConfig()
BOX = np.array([[-20.0, 10.0], [-40.0, 120.0], [0.0, 4.0]])


def _theta(n: int = 100) -> np.ndarray:
    return np.tile([0.5, 3.0, 0.3], (n, 1))


def test_design_runs_per_parameter_and_span():
    fit = PowerLawFit(E=1.8, A=400.0, alpha=0.34, n_points=30)
    data = pd.DataFrame({"N": np.geomspace(1e7, 1e10, 30)})
    assert check_design_points("power", fit, data, CFG) == []
    few = check_design_points(
        "power", fit._replace(n_points=5), pd.DataFrame({"N": np.linspace(1e8, 3e8, 5)}), CFG
    )
    assert "only 5 runs for 3 parameters" in few[0] and "N spans only 0.48 decades" in few[1]


def test_design_budgets_spanning_half_a_decade():
    budgets = pd.DataFrame({"budget": [1e18, 2e18, 3.16e18], "N": [1, 2, 3], "loss": [3, 2, 1]})
    assert "the budgets span only 0.50 decades" in check_budget_span(budgets, CFG)[0]
    assert check_budget_span(budgets.assign(budget=[1e18, 1e19, 1e20]), CFG) == []


def test_design_minimum_at_the_edge_of_its_sizes():
    sizes = [1e6, 2e6, 4e6, 8e6]
    rows = [(1e15, n, y) for n, y in zip(sizes, [3.0, 2.8, 2.9, 3.1], strict=True)]
    rows += [(1e16, n, y) for n, y in zip(sizes, [3.0, 2.9, 2.8, 2.7], strict=True)]
    table = pd.DataFrame(rows, columns=["budget", "N", "loss"])
    warns = check_edge_minima(table, CFG)
    assert warns == ["design: the lowest loss sits at the edge of its sizes at C=1e+16 (largest)"]
    assert check_edge_minima(table[table["budget"] == 1e15], CFG) == []


def test_edge_minimum_judged_by_the_vertex_not_the_lowest_run():
    # A flat minimum: the smallest size's run is lowest by noise, yet the parabola through all
    # seven sizes puts the optimum inside them, 95 % interval and all: not an edge.
    sizes = np.array([1.0, 1.5, 2.25, 3.4, 5.0, 7.6, 11.4]) * 1e6
    flat = pd.DataFrame(
        {"budget": 1e15, "N": sizes, "loss": [2.979, 2.985, 2.98, 2.981, 2.99, 3.01, 3.05]}
    )
    assert check_edge_minima(flat, CFG) == []
    # Still falling at the smallest size: the optimum may lie below the sizes run.
    falling = flat.assign(loss=[2.90, 2.93, 2.96, 2.98, 2.99, 3.01, 3.05])
    assert "C=1e+15 (smallest)" in check_edge_minima(falling, CFG)[0]


def test_identification_bound_starts_failures_and_wide_positive_parameters():
    fit = PowerLawFit(E=1.8, A=400.0, alpha=0.34, n_points=30)
    good = {"E": Estimate(1.8, 1.7, 1.9), "alpha": Estimate(0.34, 0.3, 0.4)}
    assert check_identification("power", fit, good, _theta(), _theta(), BOX, CFG) == []
    bad_fit = fit._replace(at_bound=("alpha",), start_spread=0.3)
    samples = _theta()
    samples[:10] = np.nan
    raw = _theta()
    raw[10:20, 2] = 4.0  # on the exponent's upper bound
    wide = {"E": Estimate(1.0, 2e-9, 2.36), "alpha": Estimate(0.3, 0.29, 0.31)}
    text = "\n".join(check_identification("power", bad_fit, wide, samples, raw, BOX, CFG))
    assert "alpha ended on the search bound" in text
    assert "disagree by 30.0%" in text
    assert "10% of bootstrap resamples failed" in text
    assert "10.0% of bootstrap resamples ended on a search bound" in text
    assert "E is not identified (interval 2e-09 to 2.36" in text and "alpha is not" not in text


def _bt(errors, sigma, dof=10) -> BacktestResult:
    table = pd.DataFrame({"rel_error": errors})
    err = np.abs(np.asarray(errors))
    return BacktestResult(
        "x",
        "C",
        1.0,
        20,
        len(errors),
        err.mean(),
        err.max(),
        float(np.mean(errors)),
        table,
        sigma=sigma,
        dof=dof,
    )


def test_calibration_held_out_points_outside_the_refits_interval():
    covered = _bt([0.005, -0.004, 0.01, -0.012, 0.003, 0.0], sigma=0.01)
    assert check_calibration("chinchilla", [covered], CFG) == []
    over = _bt([0.03, -0.035, 0.04, 0.028, -0.03, 0.001], sigma=0.01)
    warns = check_calibration("chinchilla", [over, None], CFG)
    assert "5 of 6 held-out points fall outside" in warns[0] and "over-confident" in warns[0]
    # A refit with too few degrees of freedom claims no interval: its points are not counted.
    assert miscoverage([over._replace(dof=2)], CFG.min_calibration_dof) == (0, 0)


def test_calibration_mean_error_over_the_judged_backtests():
    small, large = _bt([0.01, -0.01], 0.01), _bt([0.05, 0.04], 0.01)
    span = lambda bt, s: bt._replace(train_span=s)  # noqa: E731
    warns = check_backtest_errors("minima", [span(small, 1.5), span(large, 1.2), None], CFG)
    assert warns == [
        "minima: backtest error 2.8% on 4 held-out points (leave-largest-out, rolling origin, "
        "leave-one-budget-out; limit 2%); extrapolations are unreliable"
    ]
    # A refit that saw under half the decades of the full fit is shown, not judged.
    assert check_backtest_errors("minima", [span(small, 1.5), span(large, 0.6)], CFG) == []


def test_leave_one_budget_out_predicts_every_budget_from_the_others():
    C = np.repeat([1e18, 1e19, 1e20, 1e21], 3) * np.tile([0.9, 1.0, 1.1], 4)
    pts = pd.DataFrame({"C": C, "loss": 1.7 + 40 * C**-0.12, "id": [f"r{i}" for i in range(12)]})
    pts["budget"] = np.repeat([1e18, 1e19, 1e20, 1e21], 3)
    out = leave_one_budget_out(pts, "power", x="C")
    assert len(out) == 4 and sorted(r.cutoff for r in out) == sorted(C.reshape(4, 3)[:, 0])
    assert all(r.mean_abs_rel_error < 1e-3 and r.dof == 6 for r in out)


def test_horizon_beyond_ten_x_or_the_design_span():
    data = pd.DataFrame({"C": [1e18, 1e21]})  # 3 decades of runs
    assert check_horizon("chinchilla", [{"C": 1e22}], data, CFG) == []  # 10x: at the limit
    far = check_horizon("chinchilla", [{"C": 1e23}, {"C": 1e23}], data, CFG)
    assert (
        len(far) == 1 and "2.00 decades beyond the largest run; the design supports 1.00" in far[0]
    )
    # Budgets spanning half a decade support half a decade, not 10x.
    narrow = pd.DataFrame({"C": [1e18, 3e18], "budget": [1e18, 3.16e18]})
    assert "the design supports 0.50" in check_horizon("x", [{"C": 1.3e19}], narrow, CFG)[0]


def test_failed_resamples_and_metric_mode():
    samples = np.ones((100, 3))
    samples[:10] = np.nan
    assert "10% of bootstrap resamples failed" in check_bootstrap("power", samples, CFG)[0]
    flags = np.zeros(100, dtype=bool)
    flags[:10] = True  # a tenth of resamples could not fit the law: within the limit
    assert check_inapplicable("minima", flags, CFG) == []
    flags[:30] = True
    assert "could not be fitted in 30% of" in check_inapplicable("minima", flags, CFG)[0]
    assert check_metric_mode("min", "eval/loss") == []
    assert "maximised" in check_metric_mode("max", "eval/accuracy")[0]
