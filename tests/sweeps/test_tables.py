"""The result tables: what is on disk after each event, and what survives a reload."""

from __future__ import annotations

import pandas as pd
import pytest

from contract.metrics import DONE, EVAL_LOSS, STEP, TOKENS
from contract.results import CURVES_FILE, FAILED, FINISHED, STOPPED, TRIALS_FILE
from sweeps import tables as tables_module
from sweeps.plan import make_plan
from sweeps.spec import spec_from_dict
from sweeps.tables import ResultTables

SPEC = {
    "name": "t",
    "model": {"size": {"grid": ["gpt-10k", "gpt-50k"]}},
    "data": {"dataset": {"type": "synthetic", "num_tokens": 20_000}},
    "trainer": {"max_tokens": 4096},
}


@pytest.fixture
def points():
    return make_plan(spec_from_dict(SPEC)).trials


def _trials(sweep_dir) -> pd.DataFrame:
    return pd.read_csv(sweep_dir / TRIALS_FILE).set_index("trial_id")


def _report(step: int, loss: float, done: bool = False) -> dict:
    return {STEP: step, TOKENS: step * 256, EVAL_LOSS: loss, **({DONE: 1.0} if done else {})}


def test_every_event_reaches_disk_in_order(tmp_path, points):
    tables = ResultTables(tmp_path, EVAL_LOSS, "min")
    a, b = points
    for point in points:
        tables.trial_planned(point)
    tables.flush()
    assert set(_trials(tmp_path)["status"]) == {"PENDING"}

    tables.trial_started(a)
    assert _trials(tmp_path).loc[a.trial_id, "status"] == "RUNNING"
    tables.trial_reported(a.trial_id, _report(4, 3.0))
    tables.trial_reported(a.trial_id, _report(8, 2.5, done=True))
    tables.trial_ended(a.trial_id, FINISHED)
    tables.trial_started(b)
    tables.trial_reported(b.trial_id, _report(4, 3.5))
    tables.trial_ended(b.trial_id, FINISHED)  # ended without its final report: stopped early

    rows = _trials(tmp_path)
    assert rows.loc[a.trial_id, "status"] == FINISHED
    assert (
        rows.loc[a.trial_id, EVAL_LOSS] == 2.5 and rows.loc[a.trial_id, f"best/{EVAL_LOSS}"] == 2.5
    )
    assert rows.loc[b.trial_id, "status"] == STOPPED
    assert rows.loc[a.trial_id, "model.size"] == "gpt-10k" and rows.loc[a.trial_id, "params"] > 0
    assert (rows["wall_s"] >= 0).all()
    curves = pd.read_csv(tmp_path / CURVES_FILE)
    assert curves.groupby("trial_id")[STEP].apply(list).to_dict() == {
        a.trial_id: [4, 8],
        b.trial_id: [4],
    }


def test_results_are_batched_but_curves_and_ends_are_not(tmp_path, points, monkeypatch):
    monkeypatch.setattr(tables_module, "RESULT_FLUSH_S", 3600.0)
    tables = ResultTables(tmp_path, EVAL_LOSS, "min")
    (a, _) = points
    tables.trial_started(a)
    tables.trial_reported(a.trial_id, _report(4, 3.0))
    # Within the flush interval: the curve has the result, trials.csv still the start.
    assert len(pd.read_csv(tmp_path / CURVES_FILE)) == 1
    assert EVAL_LOSS not in _trials(tmp_path).columns
    tables.trial_ended(a.trial_id, FAILED, "RuntimeError: boom\n at step 4")
    row = _trials(tmp_path).loc[a.trial_id]
    assert row["status"] == FAILED and row[EVAL_LOSS] == 3.0
    assert row["error"] == "RuntimeError: boom at step 4"


def test_a_reload_keeps_rows_and_does_not_repeat_curve_points(tmp_path, points):
    (a, _) = points
    first = ResultTables(tmp_path, EVAL_LOSS, "min")
    first.trial_started(a)
    first.trial_reported(a.trial_id, _report(4, 3.0))

    resumed = ResultTables(tmp_path, EVAL_LOSS, "min")
    assert resumed.status(a.trial_id) == "RUNNING"
    resumed.trial_started(a)
    resumed.trial_reported(a.trial_id, _report(4, 3.0))  # re-reported after a resume
    resumed.trial_reported(a.trial_id, _report(8, 2.0, done=True))
    resumed.trial_ended(a.trial_id, FINISHED)
    assert list(pd.read_csv(tmp_path / CURVES_FILE)[STEP]) == [4, 8]
    assert ResultTables(tmp_path, EVAL_LOSS, "min").status(a.trial_id) == FINISHED
