"""Approach 3's domain: points under a tokens-per-parameter floor are left out of its fit (and
only its fit), set by a flag or by the sweep's own `analysis:` section."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.fit.bootstrap import BootstrapConfig
from analysis.fit_all import AnalysisConfig, run_analysis
from analysis.fit_scaling import main
from analysis.load.sweep_tables import ScalingData
from contract.fit_settings import SweepFitSettings
from contract.results import SPEC_FILE

NO_EXCLUDED = pd.DataFrame(columns=["id", "reason"])
NO_BOOTSTRAP = BootstrapConfig(n_resamples=0)


def _under_trained_corner_raised(points: pd.DataFrame) -> pd.DataFrame:
    """The points under 10 tokens per parameter lifted by up to 4 %, more the fewer tokens:
    the pattern a real WSD run's early cooldown branches show and the law's form cannot."""
    dn = points["D"] / points["N"]
    lift = np.where(dn < 10, 0.04 * np.log10(10 / dn) / np.log10(10 / dn.min()), 0.0)
    return points.assign(loss=points["loss"] * (1 + lift))


def _chinchilla(points: pd.DataFrame, floor: float | None):
    data = ScalingData(points, NO_EXCLUDED, None, "mem")
    cfg = AnalysisConfig(
        laws=("chinchilla",), bootstrap=NO_BOOTSTRAP, approach3_min_tokens_per_param=floor
    )
    return run_analysis(data, cfg)


def test_the_floor_leaves_the_corner_the_form_misses_out_of_the_fit(grid_points, true_law):
    raised = _under_trained_corner_raised(grid_points)
    everything = _chinchilla(raised, None)
    assert any("residuals curve" in w for w in everything.warnings)
    floored = _chinchilla(raised, 10)
    res = floored.results["chinchilla"]
    kept = int((raised["D"] / raised["N"] >= 10).sum())
    assert res.fit.n_points == kept < len(raised)
    assert not any("residuals curve" in w for w in floored.warnings)
    assert any(f"fitted to the {kept} points at 10+ tokens per parameter" in n for n in res.notes)
    # The law it finds is the true one again.
    assert res.fit.alpha == pytest.approx(true_law.alpha, rel=0.1)
    assert res.fit.beta == pytest.approx(true_law.beta, rel=0.1)


def test_only_approach_3_is_restricted(isoflop_points):
    data = ScalingData(isoflop_points, NO_EXCLUDED, None, "mem")
    floor = float(np.median(isoflop_points["D"] / isoflop_points["N"]))
    cfg = AnalysisConfig(
        laws=("chinchilla", "frontier"),
        bootstrap=NO_BOOTSTRAP,
        approach3_min_tokens_per_param=floor,
    )
    results = run_analysis(data, cfg).results
    assert len(results["chinchilla"].used_ids) < len(isoflop_points)
    assert len(results["isoflop"].used_ids) == len(isoflop_points)


def test_a_floor_that_leaves_too_few_points_skips_the_law_and_says_why(grid_points):
    analysis = _chinchilla(grid_points, 1e6)
    assert "chinchilla" not in analysis.results
    reason = analysis.skipped["chinchilla"]
    assert "approach3_min_tokens_per_param" in reason and "needs 5+" in reason


def test_the_config_refuses_a_negative_floor():
    with pytest.raises(ValueError, match="approach3_min_tokens_per_param must be >= 0"):
        AnalysisConfig(approach3_min_tokens_per_param=-1)


def test_a_sweeps_settings_fill_what_the_command_left_unset():
    settings = SweepFitSettings.of_spec({"analysis": {"approach3_min_tokens_per_param": 10}})
    assert AnalysisConfig().with_sweep_settings(settings).approach3_min_tokens_per_param == 10
    given = AnalysisConfig(approach3_min_tokens_per_param=3)
    assert given.with_sweep_settings(settings).approach3_min_tokens_per_param == 3
    assert SweepFitSettings.of_spec(None) == SweepFitSettings.of_spec({"name": "x"})


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"approach3_min_tokens_per_param": -1}, "analysis.approach3_min_tokens_per_param"),
        ({"min_tokens": 10}, "analysis.min_tokens"),
    ],
)
def test_a_damaged_section_is_one_line_naming_its_key(section, expected):
    with pytest.raises(ValueError, match=expected) as err:
        SweepFitSettings.of_spec({"analysis": section})
    assert "\n" not in str(err.value) and str(err.value).startswith("spec.yaml: ")


@pytest.fixture
def floored_sweep(sweep_dir, tmp_path):
    """The toy sweep with `analysis: {approach3_min_tokens_per_param: 10}` in its spec.yaml:
    10 of its 16 runs are at 10+ tokens per parameter."""
    folder = tmp_path / "toy"
    shutil.copytree(sweep_dir, folder)
    spec = yaml.safe_load((folder / SPEC_FILE).read_text(encoding="utf-8"))
    spec["analysis"] = {"approach3_min_tokens_per_param": 10}
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder


def test_the_fit_command_reads_the_sweeps_section_and_its_flag_wins(floored_sweep, capsys):
    args = [str(floored_sweep), "--law", "chinchilla", "--bootstrap", "0", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(10 runs)" in out and "fitted to the 10 points at 10+ tokens per parameter" in out
    assert main([*args, "--approach3-min-tokens-per-param", "1"]) == 0
    out = capsys.readouterr().out
    assert "(15 runs)" in out and "fitted to the 15 points at 1+ tokens per parameter" in out
    assert main([*args, "--approach3-min-tokens-per-param", "0"]) == 0  # every point
    out = capsys.readouterr().out
    assert "(16 runs)" in out and "tokens per parameter;" not in out


def test_the_flag_refuses_a_negative_floor(sweep_dir, capsys):
    assert main([str(sweep_dir), "--approach3-min-tokens-per-param", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fit_scaling: error: --approach3-min-tokens-per-param must be >= 0, got -1.0"]


def test_the_figures_mark_the_points_left_out(grid_points, tmp_path):
    """Approach 3's figures draw the points under the floor hollow, point by point (a run whose
    end it fitted may have a cooldown point it did not)."""
    from analysis.report.figure_parts import used_mask
    from analysis.report.plots import write_plots

    analysis = _chinchilla(grid_points, 10)
    used = used_mask(analysis.results["chinchilla"], grid_points)
    assert (used == (grid_points["D"] / grid_points["N"] >= 10).to_numpy()).all()
    assert used_mask(_chinchilla(grid_points, None).results["chinchilla"], grid_points).all()
    assert {p.stem for p in write_plots(analysis, tmp_path)} >= {"loss_vs_C", "residuals"}
