"""The trust gate on designs where the truth is known: budgets, runs, bounds, widths, agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.checks.trust import (
    TrustConfig,
    check_agreement,
    check_at_bound,
    check_identification,
    width_notes,
)
from analysis.fit.bootstrap import BootstrapConfig, groups_from_ids
from analysis.fit_all import AnalysisConfig, run_analysis
from analysis.laws.forms import Estimate, PowerLawFit
from analysis.laws.frontier import isoflop_frontier
from analysis.load.sweep_tables import ScalingData
from analysis.report.render import format_table, identified, to_json, to_markdown

CFG = TrustConfig()
NO_EXCLUDED = pd.DataFrame(columns=["id", "reason"])


def _scattered_isoflop(true_law, spread: float) -> pd.DataFrame:
    """5 nominal budgets x 7 sizes whose realised FLOPs scatter by ``spread`` decades."""
    rng = np.random.default_rng(3)
    rows = []
    for budget in np.geomspace(1e17, 1e21, 5):
        for N in true_law.n_opt(budget) * np.geomspace(0.1, 10.0, 7):
            C = budget * 10 ** rng.uniform(-spread, spread)
            D = C / (6 * N)
            loss = float(true_law.predict(N, D)) * np.exp(rng.normal(0, 0.002))
            rows.append({"N": N, "D": D, "C": C, "loss": loss, "budget": budget})
    return pd.DataFrame(rows).assign(id=lambda d: [f"r{i}" for i in range(len(d))])


def test_nominal_budgets_group_runs_that_flops_alone_cannot(true_law):
    pts = _scattered_isoflop(true_law, spread=0.3)
    with pytest.raises(ValueError, match="not an IsoFLOP sweep"):
        isoflop_frontier(pts.drop(columns="budget"))
    fit = isoflop_frontier(pts)
    assert len(fit.points) == 5 and fit.n_groups == 5
    np.testing.assert_allclose(fit.points["C"], np.geomspace(1e17, 1e21, 5))


def test_dropped_budgets_are_named_and_warned(true_law, isoflop_points):
    pts = isoflop_points.copy()
    pts = pts[~((pts["C"] > 5e19) & (pts["C"] < 5e20) & (pts["N"] > 3e8))]  # one budget cut
    pts = pts[~((pts["C"] > 5e18) & (pts["C"] < 5e19) & (pts["N"] < 2e8))]
    data = ScalingData(pts.reset_index(drop=True), NO_EXCLUDED, None, "mem")
    cfg = AnalysisConfig(laws=("frontier",), bootstrap=BootstrapConfig(n_resamples=0))
    a = run_analysis(data, cfg)
    iso = a.results["isoflop"]
    assert any(n.startswith("C=") for n in iso.notes)
    assert any("FLOP budgets dropped" in w for w in a.warnings)
    assert "note: C=" in format_table(a)


def test_within_budget_resampling_keeps_every_budget(true_law):
    pts = _scattered_isoflop(true_law, spread=0.01)
    data = ScalingData(pts, NO_EXCLUDED, None, "mem")
    cfg = AnalysisConfig(laws=("frontier",), bootstrap=BootstrapConfig(n_resamples=40, workers=2))
    iso = run_analysis(data, cfg).results["isoflop"]
    a = iso.estimates["a"]
    assert a.lo < true_law.a < a.hi and a.hi - a.lo < 0.1
    assert np.isfinite(iso.samples).all(axis=1).mean() > 0.9


def test_rows_of_one_run_are_resampled_together():
    groups = groups_from_ids(np.array(["x", "y", "x", "z", "y"]), 5)
    assert sorted(map(list, groups)) == [[0, 2], [1, 4], [3]]
    assert [list(g) for g in groups_from_ids(None, 3)] == [[0], [1], [2]]


def test_run_clusters_widen_intervals(true_law):
    """Checkpoints of one run are not independent: 8 runs x 6 points each carry one noise draw
    per run, so resampling points as independent understates the interval."""
    rng = np.random.default_rng(4)
    rows = []
    for r, N in enumerate(np.geomspace(1e7, 1e9, 8)):
        shift = np.exp(rng.normal(0, 0.02))  # per-run offset shared by its checkpoints
        for D in np.geomspace(1e9, 1e11, 6):
            loss = float(true_law.predict(N, D)) * shift * np.exp(rng.normal(0, 0.001))
            rows.append(
                {
                    "id": f"{r}-{D:.0e}",
                    "run_id": str(r),
                    "N": N,
                    "D": D,
                    "C": 6 * N * D,
                    "loss": loss,
                }
            )
    pts = pd.DataFrame(rows)
    cfg = AnalysisConfig(
        laws=("power",), x="N", bootstrap=BootstrapConfig(n_resamples=60, workers=1)
    )
    clustered = run_analysis(ScalingData(pts, NO_EXCLUDED, None, "mem"), cfg)
    loose = run_analysis(ScalingData(pts.drop(columns="run_id"), NO_EXCLUDED, None, "mem"), cfg)
    wide = clustered.results["power"].estimates["E"]
    narrow = loose.results["power"].estimates["E"]
    assert len(clustered.results["power"].used_ids) == 8
    assert wide.hi - wide.lo >= narrow.hi - narrow.lo


def test_share_of_resamples_at_a_bound():
    box = np.array([[-20.0, 10.0], [0.0, 4.0]])
    theta = np.tile([0.5, 1.0], (100, 1))
    assert check_at_bound("x", theta, box, CFG) == []
    theta[:9, 0] = -20.0
    assert (
        "9.0% of bootstrap resamples ended on a search bound"
        in check_at_bound("x", theta, box, CFG)[0]
    )


def test_not_identified_intervals_print_as_such():
    assert not identified(Estimate(1.0, 2e-9, 2.36)) and identified(Estimate(1.0, 0.9, 1.1))


def test_wide_prefactors_are_notes_not_warnings():
    est = {"A": Estimate(14.0, 4.9, 210.0), "B": Estimate(300.0, 91.0, 4800.0)}
    fit = PowerLawFit(E=1.8, A=14.0, alpha=0.3, n_points=30)
    assert (
        check_identification(
            "chinchilla",
            fit,
            est,
            np.ones((10, 3)),
            np.ones((10, 3)),
            np.array([[-20, 10], [-40, 120], [0, 4]]),
            CFG,
        )
        == []
    )
    notes = width_notes(est, CFG)
    assert len(notes) == 2 and notes[0].startswith("A is not identified on its own (interval")
    assert width_notes({"A": Estimate(14.0, 10.0, 20.0)}, CFG) == []


def test_approaches_that_disagree_are_flagged():
    values = {"envelope": Estimate(0.42, 0.40, 0.44), "chinchilla": Estimate(0.76, 0.6, 0.9)}
    warnings = check_agreement(values)
    assert len(warnings) == 1 and "each lie outside the other's interval" in warnings[0]
    assert check_agreement({"x": Estimate(0.5, 0.45, 0.55), "y": Estimate(0.52, 0.5, 0.6)}) == []
    # One point a hair outside the other's interval while the other sits inside its own is not
    # a disagreement (it flipped with a host's floating-point arithmetic on the main job).
    near = {"iso": Estimate(0.599, 0.506, 0.688), "a3": Estimate(0.504, 0.396, 0.623)}
    assert check_agreement(near) == []


def test_under_trained_runs_are_named_with_a_fit_without_them(grid_points):
    pts = grid_points.copy()
    pts.loc[:3, "D"] = pts.loc[:3, "N"] * 0.5  # four runs at half a token per parameter
    data = ScalingData(pts, NO_EXCLUDED, None, "mem")
    cfg = AnalysisConfig(laws=("chinchilla",), bootstrap=BootstrapConfig(n_resamples=0), holdout=0)
    a = run_analysis(data, cfg)
    n_low = int((pts["D"] / pts["N"] < 1).sum())  # the grid's own corner runs, plus these four
    assert any(f"{n_low} under-trained runs (D/N < 1): t0, t1, t2, t3" in w for w in a.warnings)
    variant = a.results["chinchilla"].variants["without under-trained runs"]
    assert set(variant) >= {"alpha", "beta", "a"}
    assert "without under-trained runs: " in format_table(a)


def test_report_has_provenance_agreement_and_rolling_backtests(small_analysis):
    md = to_markdown(small_analysis)
    assert "product commit:" in md and "units: N: non-embedding parameters" in md
    assert "compute: C = recorded training FLOPs (column 'flops')" in md
    assert "## Agreement across approaches" in md and "sweep: toy" in md
    out = to_json(small_analysis)
    assert out["provenance"]["spec_sha256"] and out["agreement"]
    assert out["c_definition"].startswith("C = recorded") and "alpha" in out["compute"]
    rolling = out["chinchilla"]["rolling_backtest"]
    assert rolling and {"mean_abs_rel_error", "bias", "exponents"} <= set(rolling[0])
    assert "- Rolling backtest: fit on" in md


def test_compute_law_with_a_given_floor(sweep_dir):
    from analysis.load.sweep_tables import load_scaling_data

    cfg = AnalysisConfig(
        laws=("compute",), compute_floor=1.69, bootstrap=BootstrapConfig(n_resamples=0)
    )
    res = run_analysis(load_scaling_data(sweep_dir), cfg).results["compute"]
    assert res.fit.E == pytest.approx(1.69) and "E" not in res.estimates
    assert 0 < res.fit.alpha < 1
    # With no --predict, the forecast is at 10x the largest run's compute.
    assert res.predictions[0].inputs["C"] == pytest.approx(10 * 6 * 6e8 * 1.2e10)


def test_a_failed_backtest_warning_names_the_law_the_user_reads():
    from analysis.laws.loss_laws import _backtests

    C = np.geomspace(1e10, 1e13, 12)
    loss = 1.0 + 50 * C**-0.15
    loss[-2:] *= 1.2  # the largest runs sit far above the trend of the rest
    pts = pd.DataFrame({"C": C, "loss": loss, "id": [f"r{i}" for i in range(12)]})
    _, _, _, warns = _backtests(pts, "compute", "C", AnalysisConfig(holdout=0.2))
    assert warns and warns[0].startswith("compute: backtest error")


def test_a_resample_that_loses_its_vertices_is_not_applicable_not_failed(true_law):
    # Five sizes a budget from its optimum up: drawing a budget's runs with replacement often
    # leaves no size on the optimum's small side, so the vertex is lost on too many budgets,
    # which the planned design never lacks. Such resamples are flagged not applicable (and kept
    # out of the interval), not counted as failed fits (they were 21 % of them).
    from analysis.laws.frontier import FrontierConfig, budget_labels
    from analysis.laws.frontier_fits import _frontier_chunk, _strata

    pts = _scattered_isoflop(true_law, spread=0.0)
    pts = pts[pts.groupby("budget").cumcount().isin([2, 3, 4, 5, 6])].reset_index(drop=True)
    groups = groups_from_ids(pts["id"].to_numpy(), len(pts))
    cfg = FrontierConfig()
    strata = _strata(budget_labels(pts, cfg)[0], groups)
    rows = _frontier_chunk((0, 200, 0, pts, "isoflop", cfg, groups, strata))
    flagged = rows[:, -1] == 1.0
    failed = np.isnan(rows[~flagged, :-1]).any(axis=1)
    assert flagged.sum() > 20 and failed.sum() <= 5 and np.isnan(rows[flagged, :-1]).all()
    data = ScalingData(pts, NO_EXCLUDED, None, "mem")
    boot = BootstrapConfig(n_resamples=200, workers=1, seed=0)
    res = run_analysis(data, AnalysisConfig(laws=("frontier",), bootstrap=boot)).results
    assert not any("failed to fit" in w for w in res["isoflop"].warnings)
    assert 120 < len(res["isoflop"].samples) < 200  # the not-applicable resamples left out
