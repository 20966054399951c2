"""A WSD trial's cooldown points are scaling-law points of one run: each has the branch's D, C
and loss, and all keep the trial as their run for resampling."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.load.sweep_tables import load_scaling_data
from contract.metrics import (
    BRANCH_EVAL_LOSS,
    BRANCH_FLOPS,
    BRANCH_FRACTION,
    BRANCH_TOKENS,
    EVAL_LOSS,
    FLOPS,
    PARAMS,
    TOKENS,
)
from contract.results import (
    BRANCH,
    BUDGET,
    CURVES_FILE,
    FINISHED,
    POINT,
    POINTS_FILE,
    RUN_ID,
    TRIAL_ID,
    TRIALS_FILE,
)


def _sweep(folder: Path) -> None:
    trials = pd.DataFrame(
        {
            "trial_id": ["wsd", "plain"],
            "status": [FINISHED, FINISHED],
            PARAMS: [1e5, 3e5],
            TOKENS: [4e6, 2e6],
            FLOPS: [3.3e12, 4e12],  # the WSD trial's flops count its branches on top
            BUDGET: [2.4e12, 4e12],
            EVAL_LOSS: [1.50, 1.45],
        }
    )
    trials.to_csv(folder / TRIALS_FILE, index=False)
    curves = pd.DataFrame(
        {
            "trial_id": ["wsd"] * 4 + ["plain"],
            "step": [100, 200, 300, 400, 400],
            TOKENS: [1e6, 2e6, 3e6, 4e6, 2e6],
            FLOPS: [6e11, 1.2e12, 2e12, 3.3e12, 4e12],
            EVAL_LOSS: [1.9, 1.8, 1.7, 1.5, 1.45],
            BRANCH_FRACTION: [0.25, 0.5, None, 1.0, None],
            BRANCH_TOKENS: [1e6, 2e6, None, 4e6, None],
            BRANCH_FLOPS: [6e11, 1.2e12, None, 2.4e12, None],
            BRANCH_EVAL_LOSS: [1.8, 1.65, None, 1.5, None],
        }
    )
    curves.to_csv(folder / CURVES_FILE, index=False)


def test_cooldown_points_replace_their_trial_row(tmp_path: Path) -> None:
    _sweep(tmp_path)
    points = load_scaling_data(tmp_path).points.set_index("id")
    assert sorted(points.index) == ["plain", "wsd@0.25", "wsd@0.5", "wsd@1"]
    half = points.loc["wsd@0.5"]
    assert (half["N"], half["D"], half["C"], half["loss"]) == (1e5, 2e6, 1.2e12, 1.65)
    assert half[BUDGET] == pytest.approx(1.2e12)
    assert set(points.loc[["wsd@0.25", "wsd@0.5", "wsd@1"], RUN_ID]) == {"wsd"}
    assert points.loc["plain", RUN_ID] == "plain"


def _points_csv(folder: Path, trial_ids: list[str]) -> None:
    """points.csv as the runner writes it, for `trial_ids` of the sweep above."""
    rows = [
        ("wsd", "wsd@0.25", 0.25, 1e6, 6e11, 1.8),
        ("wsd", "wsd@0.5", 0.5, 2e6, 1.2e12, 1.65),
        ("wsd", "wsd@1", 1.0, 4e6, 2.4e12, 1.5),
        ("plain", "plain", None, 2e6, 4e12, 1.45),
    ]
    frame = pd.DataFrame(rows, columns=[TRIAL_ID, POINT, BRANCH, TOKENS, FLOPS, EVAL_LOSS])
    frame[frame[TRIAL_ID].isin(trial_ids)].to_csv(folder / POINTS_FILE, index=False)


def test_points_table_gives_the_same_points_as_the_curves(tmp_path: Path) -> None:
    _sweep(tmp_path)
    from_curves = load_scaling_data(tmp_path).points
    _points_csv(tmp_path, ["wsd", "plain"])
    curves = pd.read_csv(tmp_path / CURVES_FILE)
    curves.drop(columns=[BRANCH_FRACTION, BRANCH_EVAL_LOSS]).to_csv(
        tmp_path / CURVES_FILE, index=False
    )
    pd.testing.assert_frame_equal(load_scaling_data(tmp_path).points, from_curves)


def test_trials_the_points_table_misses_take_their_points_from_the_curves(tmp_path: Path) -> None:
    """A sweep resumed after points.csv came in lists only the trials that ended since."""
    _sweep(tmp_path)
    from_curves = load_scaling_data(tmp_path).points
    _points_csv(tmp_path, ["plain"])
    pd.testing.assert_frame_equal(load_scaling_data(tmp_path).points, from_curves)
