"""Frontier points are annealed points: run ends, cooldown branches and constant-rate points,
never a decaying schedule's intermediate points."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.laws.annealed import annealed_mask, annealed_points
from analysis.load.sweep_tables import ScalingData
from contract.metrics import LR
from contract.results import RUN_ID

NONE_EXCLUDED = pd.DataFrame(columns=["id", "reason"])


def _curves() -> pd.DataFrame:
    cosine = [3e-3, 2e-3, 1e-3, 3.1e-4, 3e-4]  # decays to its final rate at the end only
    constant = [1e-3, 3e-3, 3e-3, 3e-3, 3e-3]  # warmup, then constant
    return pd.DataFrame(
        {
            "id": ["cos"] * 5 + ["flat"] * 5,
            "N": [1e5] * 5 + [2e5] * 5,
            "D": [1e6, 2e6, 3e6, 4e6, 5e6] * 2,
            "C": [1e12, 2e12, 3e12, 4e12, 5e12] * 2,
            "loss": [3.0, 2.6, 2.4, 2.2, 2.1, 3.1, 2.7, 2.5, 2.3, 2.2],
            LR: cosine + constant,
        }
    )


def _data(curves: pd.DataFrame | None) -> ScalingData:
    points = pd.DataFrame(
        {
            "id": ["cos", "flat@0.5", "flat@1"],
            RUN_ID: ["cos", "flat", "flat"],
            "N": [1e5, 2e5, 2e5],
            "D": [5e6, 2.5e6, 5e6],
            "C": [5e12, 2.5e12, 5e12],
            "loss": [2.1, 2.5, 2.15],
        }
    )
    return ScalingData(points, NONE_EXCLUDED, curves, "mem")


def test_only_points_at_the_final_rate_that_never_rises_again_count():
    mask = annealed_mask(_curves())
    # cosine: none before the end (3.1e-4 is 3% above 3e-4); constant: after warmup, not last.
    assert mask.tolist() == [False] * 5 + [False, True, True, True, False]


def test_frontier_table_is_run_ends_branches_and_constant_rate_points():
    frontier = annealed_points(_data(_curves()))
    table = frontier.table
    assert sorted(table["id"]) == ["cos", "flat", "flat", "flat", "flat@0.5", "flat@1"]
    assert set(table[RUN_ID]) == {"cos", "flat"}  # the bootstrap draws whole runs
    assert not ((table["id"] == "cos") & (table["D"] < 5e6)).any()
    assert "1 run ends, 2 cooldown-branch points and 3 curve points" in frontier.note
    assert "5 intermediate curve points left out" in frontier.note  # 4 cosine, 1 warmup


def test_without_lr_or_curves_rows_are_used_as_given():
    no_lr = annealed_points(_data(_curves().drop(columns=[LR])))
    assert len(no_lr.table) == 10 and "as given (curves.csv has no lr values" in no_lr.note
    unknown = annealed_points(_data(_curves().assign(**{LR: np.nan})))
    assert len(unknown.table) == 10 and "as given" in unknown.note
    no_curves = annealed_points(_data(None))
    assert len(no_curves.table) == 3 and "as given (no learning curves)" in no_curves.note
    assert np.array_equal(no_curves.table[RUN_ID], ["cos", "flat", "flat"])
