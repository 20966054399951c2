"""run_analysis: every supported law, intervals, predictions and skips in one typed result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.fit.bootstrap import BootstrapConfig
from analysis.fit_all import AnalysisConfig, run_analysis
from analysis.load.sweep_tables import ScalingData


def test_sweep_analysis_has_every_law(small_analysis, true_law):
    a = small_analysis
    assert set(a.results) >= {"power", "chinchilla", "envelope"}
    chin = a.results["chinchilla"]
    assert set(chin.estimates) >= {"E", "A", "B", "alpha", "beta", "a", "b", "tokens_per_param"}
    assert chin.samples.shape == (20, 5) and chin.sample_names[0] == "E"
    alpha = chin.estimates["alpha"]
    assert alpha.lo < alpha.hi and alpha.se > 0
    assert alpha.value == pytest.approx(true_law.alpha, abs=0.05)
    loss = next(p for p in chin.predictions if p.quantity == "loss")
    assert loss.inputs == {"N": 1e9, "D": 2e10}
    assert loss.estimate.value == pytest.approx(float(true_law.predict(1e9, 2e10)), rel=0.02)
    quantities = {p.quantity for p in chin.predictions if p.inputs == {"C": 1e21}}
    assert quantities == {"loss_opt", "N_opt", "D_opt", "tokens_per_param"}
    # The envelope used the learning curves: many more points than the 16 final losses.
    assert a.results["envelope"].fit.points["C"].nunique() > 10
    assert a.results["chinchilla"].backtest is None  # 16 runs: below the automatic threshold


def test_isoflop_sweep_fits_approach_two(isoflop_points, true_law):
    data = ScalingData(isoflop_points, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    cfg = AnalysisConfig(
        laws=("frontier",),
        predict=({"C": 1e22},),
        bootstrap=BootstrapConfig(n_resamples=30, workers=1),
    )
    a = run_analysis(data, cfg)
    iso = a.results["isoflop"]
    assert iso.estimates["a"].value == pytest.approx(true_law.a, abs=0.01)
    assert iso.estimates["a"].lo <= true_law.a <= iso.estimates["a"].hi
    n_opt = next(p for p in iso.predictions if p.quantity == "N_opt")
    assert n_opt.estimate.value == pytest.approx(true_law.n_opt(1e22), rel=0.2)


def test_unsupported_laws_are_skipped_with_a_reason():
    pts = pd.DataFrame(
        {
            "id": list("abcdefgh"),
            "N": np.geomspace(1e7, 1e9, 8),
            "D": np.nan,
            "C": np.nan,
            "loss": np.linspace(3.5, 2.8, 8),
        }
    )
    data = ScalingData(pts, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    a = run_analysis(data, AnalysisConfig(bootstrap=BootstrapConfig(n_resamples=0)))
    assert set(a.results) == {"power"}
    assert a.skipped["chinchilla"] == "no D values (map a column with --columns D=<col>)"
    assert a.skipped["frontier"] == a.skipped["chinchilla"]
    assert np.isnan(a.results["power"].estimates["alpha"].se)
    fixed_d = ScalingData(pts.assign(D=1e10, C=6e10 * pts["N"]), data.excluded, None, "mem")
    b = run_analysis(
        fixed_d, AnalysisConfig(laws=("chinchilla",), bootstrap=BootstrapConfig(n_resamples=0))
    )
    assert b.skipped == {"chinchilla": "D takes a single value"} and b.results == {}


def test_no_finished_runs_is_an_error():
    empty = pd.DataFrame(columns=["id", "N", "D", "C", "loss"])
    excluded = pd.DataFrame({"id": ["x"], "reason": ["status ERROR"]})
    with pytest.raises(ValueError, match="no finished runs to fit \\(1 excluded\\)"):
        run_analysis(ScalingData(empty, excluded, None, "results/x"))


def test_config_rejects_bad_holdout_and_points():
    with pytest.raises(ValueError, match="--holdout-largest"):
        AnalysisConfig(holdout=2.5)
    with pytest.raises(ValueError, match="predict"):
        AnalysisConfig(predict=({"N": -1.0},))


def test_power_law_is_skipped_on_a_compute_budget_sweep_unless_asked_for(isoflop_points):
    budgets = isoflop_points.assign(budget=10 ** np.round(np.log10(isoflop_points["C"])))
    data = ScalingData(budgets, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    boot = BootstrapConfig(n_resamples=0)
    default = run_analysis(data, AnalysisConfig(laws=None, bootstrap=boot, holdout=0))
    assert "power" not in default.results
    assert "nominal FLOP budget" in default.skipped["power"]
    assert "--law power" in default.skipped["power"]
    asked = run_analysis(data, AnalysisConfig(laws=("power",), bootstrap=boot, holdout=0))
    assert "power" in asked.results
    assert sum("mixes budgets" in w for w in asked.warnings) == 1
    plain = ScalingData(isoflop_points, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    assert "power" in run_analysis(plain, AnalysisConfig(bootstrap=boot, holdout=0)).results


def test_envelope_is_skipped_on_a_compute_budget_sweep_unless_asked_for(isoflop_points):
    """On a budget grid Approach 1 is each budget's best grid point: Approach 2 without the
    parabola. It is fitted on request, and by default wherever runs have no nominal budget."""
    budgets = isoflop_points.assign(budget=10 ** np.round(np.log10(isoflop_points["C"])))
    data = ScalingData(budgets, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    boot = BootstrapConfig(n_resamples=0)
    default = run_analysis(data, AnalysisConfig(bootstrap=boot, holdout=0))
    assert "envelope" not in default.results and "isoflop" in default.results
    assert "best grid point" in default.skipped["envelope"]
    assert "--law frontier" in default.skipped["envelope"]
    asked = run_analysis(data, AnalysisConfig(laws=("frontier",), bootstrap=boot, holdout=0))
    assert {"envelope", "isoflop"} <= set(asked.results)
    plain = ScalingData(isoflop_points, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    assert "envelope" in run_analysis(plain, AnalysisConfig(bootstrap=boot, holdout=0)).results


def test_the_default_target_is_ten_times_the_largest_nominal_budget(isoflop_points):
    """Rows' C overshoot their budgets by the planning tolerance; 10x of the largest C sat a
    hair beyond the 1-decade horizon measured from the budgets and was flagged."""
    budget = 10 ** np.round(np.log10(isoflop_points["C"]))
    over = isoflop_points.assign(budget=budget, C=budget * 1.0013)
    data = ScalingData(over, pd.DataFrame(columns=["id", "reason"]), None, "mem")
    boot = BootstrapConfig(n_resamples=0)
    result = run_analysis(data, AnalysisConfig(laws=("chinchilla",), bootstrap=boot, holdout=0))
    preds = result.results["chinchilla"].predictions
    targets = sorted({p.inputs["C"] for p in preds if "C" in p.inputs})
    assert targets == [pytest.approx(10 * budget.max())]
    assert not [w for w in result.warnings if "decades beyond" in w]
