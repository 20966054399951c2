"""The result tables: what is on disk after each event, and what survives a reload."""

from __future__ import annotations

import pandas as pd
import pytest

from contract.metrics import (
    BRANCH_EVAL_LOSS,
    BRANCH_FLOPS,
    BRANCH_FRACTION,
    BRANCH_STEP,
    BRANCH_TOKENS,
    DONE,
    EVAL_LOSS,
    FLOPS,
    PARAMS,
    STEP,
    TOKENS,
)
from contract.results import (
    BRANCH,
    CURVES_FILE,
    FAILED,
    FINISHED,
    NODE,
    POINT,
    POINTS_COLUMNS,
    POINTS_FILE,
    RETRIED_AFTER,
    RETRIES,
    STOPPED,
    TRIAL_ID,
    TRIALS_FILE,
)
from sweeps.folder import tables as tables_module
from sweeps.folder.tables import TUNE_NODE_IP, ResultTables
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import spec_from_dict

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


def _finished_pair(tmp_path, points) -> ResultTables:
    """Two trials with folders: the first finished, the second running when the run ended."""
    for point in points:
        (tmp_path / "trials" / point.dirname).mkdir(parents=True)
    tables = ResultTables(tmp_path, EVAL_LOSS, "min")
    a, b = points
    tables.trial_started(a)
    tables.trial_reported(a.trial_id, _report(4, 3.0))
    tables.trial_reported(a.trial_id, _report(8, 2.5, done=True))
    tables.trial_ended(a.trial_id, FINISHED)
    tables.trial_started(b)
    tables.trial_reported(b.trial_id, _report(4, 3.5))
    tables.flush()
    return tables


def _truncate_mid_row(path):
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\n") + 10])


DAMAGE = {
    "cut mid-row": _truncate_mid_row,
    "header only": lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"),
    "empty": lambda p: p.write_bytes(b""),
    "deleted": lambda p: p.unlink(),
    "random bytes": lambda p: p.write_bytes(bytes(range(256)) * 4),
    "older copy": lambda p: p.write_text(p.read_text().replace(FINISHED, "RUNNING")),
    "nul bytes": lambda p: p.write_bytes(p.read_bytes().replace(b",", b"\x00", 3)),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_trials_csv_is_rebuilt_and_no_finished_trial_runs_again(
    tmp_path, points, capsys, damage
):
    a, b = points
    _finished_pair(tmp_path, points)
    capsys.readouterr()
    DAMAGE[damage](tmp_path / TRIALS_FILE)
    reloaded = ResultTables(tmp_path, EVAL_LOSS, "min")
    assert reloaded.status(a.trial_id) == FINISHED
    assert reloaded.status(b.trial_id) != FINISHED
    for point in points:
        reloaded.trial_planned(point)
    reloaded.flush()
    rows = _trials(tmp_path)
    assert rows.loc[a.trial_id, "status"] == FINISHED and rows.loc[a.trial_id, EVAL_LOSS] == 2.5
    assert rows.loc[a.trial_id, "params"] > 0 and rows.loc[b.trial_id, "model.size"] == "gpt-50k"
    err = capsys.readouterr().err
    assert str(tmp_path / TRIALS_FILE) in err and "trial folders" in err


def test_full_disk_keeps_the_last_good_table_and_no_temporary(tmp_path, points, monkeypatch):
    import errno
    import os

    tables = _finished_pair(tmp_path, points)
    before = (tmp_path / TRIALS_FILE).read_bytes()
    curves_before = (tmp_path / CURVES_FILE).read_bytes()

    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(tables_module.TableWriteError, match="no space left on device") as info:
        tables.trial_ended(points[1].trial_id, FINISHED)
    assert str(tmp_path / TRIALS_FILE) in str(info.value)
    assert (tmp_path / TRIALS_FILE).read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))

    class FullFile:
        def __init__(self, f):
            self.f = f

        def write(self, text):
            self.f.write(text[:5])
            raise OSError(errno.ENOSPC, "No space left on device")

    real_open = type(tmp_path).open
    monkeypatch.setattr(
        type(tmp_path),
        "open",
        lambda self, mode="r", *a, **k: (
            _Wrap(real_open(self, mode, *a, **k), FullFile)
            if mode == "a"
            else real_open(self, mode, *a, **k)
        ),
    )
    with pytest.raises(tables_module.TableWriteError, match="curves.csv: no space"):
        tables.trial_reported(points[1].trial_id, _report(8, 3.0))
    assert (tmp_path / CURVES_FILE).read_bytes() == curves_before


class _Wrap:
    def __init__(self, f, make):
        self.f, self.inner = f, make(f)

    def __enter__(self):
        return self.inner

    def __exit__(self, *exc):
        self.f.close()


def test_curves_cut_short_or_repeated_are_repaired_on_load(tmp_path, points, capsys):
    _finished_pair(tmp_path, points)
    path = tmp_path / CURVES_FILE
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + [lines[1], lines[2][:7]]))  # a repeat and a cut-off row
    ResultTables(tmp_path, EVAL_LOSS, "min")
    curves = pd.read_csv(path)
    assert len(curves) == 3 and not curves.duplicated(["trial_id", STEP]).any()
    assert "cut short" in capsys.readouterr().err


def test_interrupted_trials_are_marked_and_kept(tmp_path, points):
    tables = _finished_pair(tmp_path, points)
    assert tables.interrupt_running() == 1
    rows = _trials(tmp_path)
    assert rows.loc[points[1].trial_id, "status"] == "INTERRUPTED"
    assert rows.loc[points[0].trial_id, "status"] == FINISHED


def test_a_retried_trial_is_counted_and_says_why(tmp_path, points):
    """A lost node's trial: pending with its count and cause until it starts again, then the
    count stays beside its end; a trial never retried leaves the columns empty."""
    tables = ResultTables(tmp_path, EVAL_LOSS, "min")
    for point in points:
        tables.trial_started(point)
    lost, other = points[0].trial_id, points[1].trial_id
    tables.trial_reported(lost, {**_report(8, 2.0), TUNE_NODE_IP: "10.0.0.2"})
    tables.trial_retried(lost, "trial's node died (node 5e1f0c2a9b7d)")
    rows = _trials(tmp_path)
    assert rows.loc[lost, "status"] == "PENDING" and rows.loc[lost, RETRIES] == 1
    tables.trial_started(points[0])
    tables.trial_reported(lost, {**_report(16, 1.5, done=True), TUNE_NODE_IP: "10.0.0.1"})
    tables.trial_ended(lost, FINISHED)
    rows = _trials(tmp_path)
    assert rows.loc[lost, "status"] == FINISHED and rows.loc[lost, RETRIES] == 1
    assert rows.loc[lost, RETRIED_AFTER] == "trial's node died (node 5e1f0c2a9b7d) on 10.0.0.2"
    assert rows.loc[lost, NODE] == "10.0.0.1"  # where it ran to its end
    assert pd.isna(rows.loc[other, RETRIES]) and pd.isna(rows.loc[other, RETRIED_AFTER])


def test_points_are_written_as_they_are_made_and_once(tmp_path, points):
    """A run's end and each cooldown branch is a row of points.csv when it is reported; other
    reports are not, and a resumed trial re-reporting a point adds no second row."""
    a, b = points
    branch = {
        BRANCH_FRACTION: 0.5,
        BRANCH_STEP: 4,
        BRANCH_TOKENS: 1024,
        BRANCH_FLOPS: 5e9,
        BRANCH_EVAL_LOSS: 2.7,
    }
    tables = ResultTables(tmp_path, EVAL_LOSS, "min")
    for point in points:
        tables.trial_started(point)
    tables.trial_reported(a.trial_id, {**_report(4, 3.0), FLOPS: 6e9, **branch})
    tables.trial_reported(a.trial_id, _report(6, 2.9))  # an ordinary report: no point
    end = {BRANCH_FRACTION: 1.0, BRANCH_TOKENS: 2048, BRANCH_FLOPS: 1e10, BRANCH_EVAL_LOSS: 2.5}
    tables.trial_reported(a.trial_id, {**_report(8, 2.5, done=True), **end})
    tables.trial_reported(b.trial_id, {**_report(8, 2.2, done=True), FLOPS: 3e10})
    ResultTables(tmp_path, EVAL_LOSS, "min").trial_reported(b.trial_id, _report(8, 2.2, True))

    table = pd.read_csv(tmp_path / POINTS_FILE, dtype={TRIAL_ID: str})
    assert list(table.columns) == [*POINTS_COLUMNS, EVAL_LOSS]
    assert list(table[POINT]) == [f"{a.trial_id}@0.5", f"{a.trial_id}@1", b.trial_id]
    half, whole, plain = table.to_dict("records")
    assert (half[TOKENS], half[FLOPS], half[EVAL_LOSS], half[STEP]) == (1024, 5e9, 2.7, 4)
    assert (whole[BRANCH], whole[FLOPS], whole[EVAL_LOSS]) == (1.0, 1e10, 2.5)
    assert pd.isna(plain[BRANCH]) and (plain[TOKENS], plain[FLOPS]) == (2048, 3e10)
    assert pd.isna(plain[PARAMS])  # the reports carried no params
