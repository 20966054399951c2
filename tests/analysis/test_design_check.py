"""bench/design_check.py: a sweep's planned points, synthetic losses from a known law, the real fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.laws.forms import ChinchillaFit
from tests.bench_script import load_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def design_check():
    return load_bench("design_check")


def test_points_are_every_trial_end_and_cooldown_branch_of_the_plan(design_check):
    pts = design_check.design_points(str(ROOT / "sweeps/scaling.yaml"), [])
    ends = pts[pts["id"].str.endswith("@1")]
    halves = pts[pts["id"].str.endswith("@0.5")]
    assert len(ends) == len(halves) == pts["run_id"].nunique() == 36
    # A half-way branch sits at half its run's tokens, FLOPs and nominal budget.
    merged = halves.merge(ends, on="run_id", suffixes=("_half", "_end"))
    for col in ("D", "C", "budget"):
        assert np.allclose(merged[f"{col}_half"] * 2, merged[f"{col}_end"])
    assert set(ends["budget"]) == {1.25e11, 2.5e11, 5e11, 1e12, 2e12, 4e12}


def test_noise_free_losses_recover_the_law_through_the_real_analysis(design_check, capsys):
    E, A, alpha, B, beta = design_check.MAIN_JOB_LAW
    law = ChinchillaFit(E=E, A=A, B=B, alpha=alpha, beta=beta)
    pts = design_check.design_points(str(ROOT / "sweeps/scaling.yaml"), [])
    data = design_check.synthetic(pts, law, sigma=0.0, shared=0.8, seed=0)
    assert np.allclose(data.points["loss"], law.predict(pts["N"], pts["D"]))
    noisy = design_check.synthetic(pts, law, sigma=0.01, shared=0.8, seed=0)
    ratio = np.log(noisy.points["loss"] / data.points["loss"])
    # The share of the noise common to a run: a run's two points move together.
    by_run = ratio.groupby(pts["run_id"]).agg(["first", "last"])
    assert np.corrcoef(by_run["first"], by_run["last"])[0, 1] > 0.5
    code = design_check.main(
        [str(ROOT / "sweeps/scaling.yaml"), "--sigma", "0", "--resamples", "20"]
    )
    out = capsys.readouterr().out
    assert code == 0 and "36 runs, 72 points" in out
    # Exact recovery: the law's own a under the sweep's C(N, D) (0.600 for these shapes).
    expected = law._replace(compute=data.compute).a
    assert 0.55 < expected < 0.65 and f"chinchilla={expected:.3f}" in out
    assert "warnings per replicate" in out


def test_a_sweep_without_budgets_is_refused(design_check):
    with pytest.raises(SystemExit, match="no compute: section"):
        design_check.design_points(str(ROOT / "sweeps/smoke.yaml"), [])
