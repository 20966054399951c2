"""Approaches 1 and 2 are backtested on the optimum of budgets they did not see."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.checks.frontier_backtest import frontier_backtests
from analysis.checks.trust import TrustConfig, check_frontier_backtest
from analysis.fit.bootstrap import BootstrapConfig
from analysis.fit_all import AnalysisConfig, run_analysis
from analysis.laws.frontier import FrontierConfig, isoflop_frontier
from analysis.load.sweep_tables import ScalingData
from analysis.report.render import format_table, to_json


@pytest.fixture()
def budgets(isoflop_points) -> pd.DataFrame:
    nominal = 10 ** np.round(np.log10(isoflop_points["C"]))
    return isoflop_points.assign(budget=nominal, run_id=isoflop_points["id"])


def test_isoflop_refit_predicts_held_out_optima_of_a_true_law(budgets, true_law):
    full = isoflop_frontier(budgets)
    run_budget = budgets.set_index("run_id")["budget"]
    largest, rolling = frontier_backtests("isoflop", budgets, full, run_budget, FrontierConfig())
    assert len(rolling) == 3  # 5 budgets; Approach 2 needs 2 to fit
    assert largest is rolling[-1] and largest.cutoff == pytest.approx(1e21)
    assert largest.n_train == 36 and largest.n_holdout == 1
    mean, worst, bias = largest.errors["N_opt"]
    assert mean == worst == abs(bias) < 0.05  # noise-free law: the refit finds the same optimum
    assert largest.exponents["a"] == pytest.approx(true_law.a, abs=0.03)
    assert set(largest.table.columns) == {"C", "N", "D", "N_lo", "N_hi", "N_pred", "D_pred"}
    assert (largest.table["N_lo"] <= largest.table["N"]).all()
    assert (largest.table["N"] <= largest.table["N_hi"]).all()


def test_frontier_backtests_are_reported_and_warn_only_above_the_limit(budgets):
    data = ScalingData(budgets, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    cfg = AnalysisConfig(laws=("frontier",), bootstrap=BootstrapConfig(n_resamples=0))
    a = run_analysis(data, cfg)
    text = format_table(a)
    assert "refit on 36 runs without the largest budget (C >= 1e+21)" in text
    assert "N_opt mean |error|" in text and "refit a=" in text
    assert to_json(a)["isoflop"]["backtest"]["errors"]["D_opt"]["bias"] is not None
    assert [w for w in a.warnings if w.startswith("isoflop: backtest")] == []
    bt = a.results["isoflop"].backtest
    far = bt.table.assign(N_pred=bt.table["N_hi"] * 1.8)
    wrong = bt._replace(errors={**bt.errors, "N_opt": (0.8, 0.8, 0.8)}, table=far)
    (warning,) = check_frontier_backtest(wrong, TrustConfig())
    assert "N_opt error 80% at the largest budget" in warning and "limit 50%" in warning
    # The same error inside the held-out budget's own vertex interval is that vertex's noise.
    noisy = bt.table.assign(
        N_lo=bt.table["N"] / 3, N_hi=bt.table["N"] * 3, N_pred=bt.table["N"] * 1.8
    )
    assert check_frontier_backtest(wrong._replace(table=noisy), TrustConfig()) == []
    none = AnalysisConfig(laws=("frontier",), holdout=0, bootstrap=BootstrapConfig(n_resamples=0))
    assert run_analysis(data, none).results["isoflop"].rolling == ()
