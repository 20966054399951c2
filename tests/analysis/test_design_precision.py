"""analysis.checks.expected_precision: a design's expected precision and warnings, from a prior law."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.checks.expected_precision import (
    SEED_NOISE,
    SHAPE_SCATTER,
    SHIPPED_PRIOR,
    expected_precision,
    render,
    run_noise,
    seed_noise,
    synthetic,
    warning_kind,
)

ROOT = Path(__file__).resolve().parents[2]


def grid(budgets=(1e11, 2e11, 4e11, 8e11, 1.6e12), per_budget=5) -> pd.DataFrame:
    """An IsoFLOP design around the shipped law's optima: end points only, C = 6.5 N D."""
    rows = []
    for budget in budgets:
        n_opt = 3.0e4 * (budget / 1e11) ** 0.5
        for k, n in enumerate(np.geomspace(n_opt / 4, n_opt * 4, per_budget)):
            run = f"C{budget:g}-{k}"
            d = budget / (6.5 * n)
            rows.append({"id": run, "run_id": run, "N": n, "D": d, "C": budget, "budget": budget})
    return pd.DataFrame(rows)


def test_noise_model_goes_through_both_measurements():
    for tokens, sigma in SEED_NOISE:
        assert seed_noise(tokens) == pytest.approx(sigma)
    assert seed_noise(10**9) < seed_noise(262_144) < seed_noise(65_536) < seed_noise(16_384)
    # A design is simulated at the runs' whole scatter about the main job's fit (1.50 %).
    assert run_noise(16_384) == pytest.approx(0.0150, abs=1e-4)
    assert run_noise(16_384) ** 2 == pytest.approx(seed_noise(16_384) ** 2 + SHAPE_SCATTER**2)


def test_widths_shrink_with_noise_and_the_prior_itself_is_reported():
    points = grid()
    quiet = expected_precision(
        points, SHIPPED_PRIOR, 0.002, "4x", min_reps=2, max_reps=2, resamples=40, seconds=0
    )
    loud = expected_precision(
        points, SHIPPED_PRIOR, 0.02, "4x", min_reps=2, max_reps=2, resamples=40, seconds=0
    )
    assert quiet.reps == loud.reps == 2 and quiet.target == pytest.approx(4 * 1.6e12)
    assert quiet.mean_width("chinchilla", "a") < loud.mean_width("chinchilla", "a")
    assert quiet.mean_width("chinchilla", "loss") < loud.mean_width("chinchilla", "loss")
    truth = quiet.truth
    assert 0.3 < truth["a"] < 0.7 and truth["n_star"] > 0 and truth["loss"] > SHIPPED_PRIOR.law.E
    text = "\n".join(render(loud))
    assert "prior the main job's own fit" in text and "noise 2.00% per run" in text
    assert "chinchilla: a " in text and "loss at target" in text


def test_replicates_are_fitted_as_the_sweeps_analysis_section_says():
    """With the main job's floor, Approach 3 sees fewer points in every replicate (so wider
    intervals), and the lines say which points it was given."""
    from contract.fit_settings import SweepFitSettings

    points = grid()
    floor = float(np.median(points["D"] / points["N"]))
    kwargs = {"min_reps": 1, "max_reps": 1, "resamples": 20, "seconds": 0}
    plain = expected_precision(points, SHIPPED_PRIOR, 0.01, "4x", **kwargs)
    floored = expected_precision(
        points,
        SHIPPED_PRIOR,
        0.01,
        "4x",
        settings=SweepFitSettings(approach3_min_tokens_per_param=floor),
        **kwargs,
    )
    assert floored.mean_width("chinchilla", "a") > plain.mean_width("chinchilla", "a")
    assert floored.mean_width("isoflop", "a") == plain.mean_width("isoflop", "a")
    assert f"chinchilla (its points at {floor:g}+ tokens per parameter): a " in render(floored)[2]


def test_a_design_no_law_can_fit_does_not_read_as_free_of_warnings():
    """One size at one budget: nothing is fitted, so no warning comes up, and the lines say
    why rather than 'none'."""
    points = grid(budgets=(1e11,), per_budget=1)
    exp = expected_precision(points, SHIPPED_PRIOR, 0.01, "4x", min_reps=1, max_reps=1, seconds=0)
    text = "\n".join(render(exp))
    assert "no law gives an interval on this design" in text
    assert "warnings to expect: none, because no law is fitted" in text
    assert "none in 1 replicates" not in text


def test_run_noise_is_shared_by_a_runs_points():
    points = pd.concat([grid(), grid().assign(id=lambda f: f["id"] + "@half")])
    data = synthetic(points, SHIPPED_PRIOR.law, 0.01, seed=1, shared=1.0)
    ratio = np.log(data.points["loss"] / SHIPPED_PRIOR.law.predict(points["N"], points["D"]))
    by_run = ratio.groupby(points["run_id"].to_numpy()).agg(["min", "max"])
    assert np.allclose(by_run["min"], by_run["max"])


def test_warnings_count_together_without_their_numbers():
    a = warning_kind("isoflop: a is poorly constrained (interval 0.36 to 0.64)")
    b = warning_kind("isoflop: a is poorly constrained (interval 0.41 to 0.77)")
    assert a == b == "isoflop: a is poorly constrained (interval # to #)"


def run_cli(*argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis.checks.expected_precision", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_cli_reads_points_on_stdin_and_prints_json():
    proc = run_cli(
        "-",
        "--json",
        "--seconds",
        "0",
        "--resamples",
        "30",
        "--noise",
        "0.01",
        stdin=grid().to_csv(index=False),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["reps"] == 2 and out["sigma"] == 0.01 and out["truth"]["d_star"] > 0
    assert any(line.startswith("expected precision") for line in out["lines"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prior", "/no/such/sweep"], "design: error: --prior: /no/such/sweep: no such sweep"),
        (["--noise", "2"], "design: error: --noise: expected a fraction"),
        (["--target", "sideways"], "design: error: --forecast: expected C=<FLOPs> or <k>x"),
    ],
)
def test_bad_input_is_one_line(argv, message):
    proc = run_cli("-", *argv, stdin=grid().to_csv(index=False))
    assert proc.returncode == 2 and proc.stderr.strip().startswith(message)
    assert "Traceback" not in proc.stderr
