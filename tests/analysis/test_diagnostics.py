"""The trust gate warns about fits that should not be extrapolated."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.checks.backtest import BacktestResult
from analysis.checks.trust import (
    TrustConfig,
    check_backtest,
    check_bootstrap,
    check_extrapolation,
    check_fit,
    check_metric_mode,
)
from analysis.laws.forms import Estimate, PowerLawFit

CFG = TrustConfig()


def test_healthy_fit_has_no_warnings():
    fit = PowerLawFit(E=1.8, A=400.0, alpha=0.34, n_points=30)
    data = pd.DataFrame({"N": np.geomspace(1e7, 1e10, 30)})
    assert check_fit("power", fit, data, {"alpha": Estimate(0.34, se=0.02)}, CFG) == []


def test_each_problem_is_named():
    fit = PowerLawFit(E=1.8, A=400.0, alpha=4.0, n_points=5, at_bound=("alpha",), start_spread=0.3)
    data = pd.DataFrame({"N": np.linspace(1e8, 3e8, 5)})
    warnings = check_fit("power", fit, data, {"alpha": Estimate(4.0, se=3.0)}, CFG)
    text = "\n".join(warnings)
    assert "only 5 runs for 3 parameters" in text
    assert "N spans only 0.48 decades" in text
    assert "alpha ended on the search bound" in text
    assert "disagree by 30.0%" in text
    assert "alpha is poorly constrained" in text
    assert len(warnings) == 5


def test_backtest_bootstrap_extrapolation_and_mode_checks():
    bt = BacktestResult("chinchilla", "C", 1e21, 200, 24, 0.05, 0.1, 0.04, pd.DataFrame())
    assert "backtest error 5.0%" in check_backtest(bt, CFG)[0]
    assert check_backtest(bt._replace(mean_abs_rel_error=0.01), CFG) == []
    samples = np.ones((100, 3))
    samples[:10] = np.nan
    assert "10% of bootstrap resamples failed" in check_bootstrap("power", samples, CFG)[0]
    data = pd.DataFrame({"C": [1e18, 1e21]})
    far = check_extrapolation("chinchilla", [{"C": 1e24}, {"C": 1e24}, {"C": 1e22}], data, CFG)
    assert len(far) == 1 and "3.0 decades beyond" in far[0]
    assert check_metric_mode("min", "eval/loss") == []
    assert "maximised" in check_metric_mode("max", "eval/accuracy")[0]
