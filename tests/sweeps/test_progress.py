"""The sweep's progress view: plain timestamped lines off a terminal, the rich live view on
one, both from the real result tables; an ETA from planned FLOPs and measured throughput."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from rich.console import Console

from contract.metrics import EVAL_LOSS, FLOPS, TOKENS, TOKENS_PER_S, TRAIN_LOSS
from contract.results import FINISHED
from sweeps.folder.tables import ResultTables
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import load_spec
from sweeps.watch.progress import Progress, format_duration
from sweeps.watch.terminal import render

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sweep(tmp_path):
    plan = make_plan(load_spec(REPO / "sweeps" / "smoke.yaml"))
    tables = ResultTables(tmp_path, EVAL_LOSS, "min")
    for point in plan.trials:
        tables.trial_planned(point)
    return plan.trials, tables


def _report(tables, point, share: float, loss: float, speed: float = 1234.0) -> None:
    tables.trial_reported(
        point.trial_id,
        {
            TOKENS: point.tokens * share,
            FLOPS: point.flops * share,
            TOKENS_PER_S: speed,
            TRAIN_LOSS: loss,
            EVAL_LOSS: loss,
        },
    )


def test_eta_is_the_untrained_plan_over_measured_throughput(sweep, monkeypatch):
    points, tables = sweep
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    planned = sum(p.flops for p in points)
    progress = Progress("smoke", len(points), planned_flops=planned, live=False)
    first, second = points[0], points[1]
    for point in (first, second):
        tables.trial_started(point)
        progress.watch(point, tables)
    assert progress.snapshot(tables).eta_s is None  # nothing measured yet
    clock[0] = 110.0
    _report(tables, first, 0.5, 3.0)
    _report(tables, second, 0.25, 3.1)
    trained = first.flops * 0.5 + second.flops * 0.25
    snap = progress.snapshot(tables)
    assert snap.eta_s == pytest.approx((planned - trained) / (trained / 10.0))
    # A trial that ends (here: stopped early) leaves nothing of its plan to train.
    tables.trial_ended(first.trial_id, FINISHED)
    done = first.flops + second.flops * 0.25
    assert progress.snapshot(tables).eta_s == pytest.approx((planned - done) / (trained / 10.0))
    assert [t.tag for t in progress.snapshot(tables).running] == [second.tag]


def test_eta_counts_the_per_token_overhead_that_small_models_spend_their_time_on(
    sweep, monkeypatch
):
    points, tables = sweep
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    first = points[0]
    second = next(p for p in points if p.flops / p.tokens != first.flops / first.tokens)
    per_token = [p.flops / p.tokens for p in (first, second)]  # two model sizes
    # Seconds per token = 1e-4 of overhead + FLOPs per token at 1 GFLOP/s.
    overhead, rate = 1e-4, 1e9
    k = overhead * rate  # the overhead in FLOP-equivalents per token
    planned_f, planned_t = sum(p.flops for p in points), sum(p.tokens for p in points)
    progress = Progress(
        "smoke", len(points), planned_flops=planned_f, planned_tokens=planned_t, live=False
    )
    for point in (first, second):
        tables.trial_started(point)
        progress.watch(point, tables)
    clock[0] = 110.0
    shares = (0.5, 0.25)
    for point, f, share in zip((first, second), per_token, shares, strict=True):
        _report(tables, point, share, 3.0, speed=1.0 / (overhead + f / rate))
    assert progress._overhead_per_token(tables.trials) == pytest.approx(k)
    done_f = sum(p.flops * sh for p, sh in zip((first, second), shares, strict=True))
    done_t = sum(p.tokens * sh for p, sh in zip((first, second), shares, strict=True))
    done = done_f + k * done_t
    eta = progress.snapshot(tables).eta_s
    assert eta == pytest.approx((planned_f + k * planned_t - done) / (done / 10.0))
    assert eta != pytest.approx((planned_f - done_f) / (done_f / 10.0))  # FLOPs alone differ


def test_plain_lines_are_timestamped_and_printed_on_change_only(sweep, capsys):
    points, tables = sweep
    progress = Progress("smoke", len(points), planned_flops=1.0, live=False)
    tables.trial_started(points[0])
    progress.update(tables, points[0])
    progress.update(tables)  # nothing changed: no second line
    _report(tables, points[0], 1.0, 2.5)
    tables.trial_ended(points[0].trial_id, FINISHED)
    progress.update(tables)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert re.match(
        r"^\d\d:\d\d:\d\d \[smoke\] 0/4 done, 1 running, 0 failed \| elapsed ", lines[0]
    )
    assert "1/4 done, 0 running" in lines[1] and f"best eval/loss 2.5 ({points[0].tag})" in lines[1]


def test_live_view_shows_running_trials_eta_and_best(sweep):
    points, tables = sweep
    progress = Progress("smoke", len(points), planned_flops=sum(p.flops for p in points))
    for point in points[:2]:
        tables.trial_started(point)
        progress.watch(point, tables)
    _report(tables, points[0], 0.5, 2.75)
    tables.trial_ended(points[1].trial_id, FINISHED)
    out = io.StringIO()
    Console(file=out, width=120, force_terminal=True, color_system=None).print(
        render(progress.snapshot(tables))
    )
    text = out.getvalue()
    assert "smoke  1/4 done, 1 running, 0 failed" in text
    assert "best eval/loss" in text and "ETA" in text
    row = next(line for line in text.splitlines() if line.startswith(points[0].tag))
    assert "50%" in row and "1.23k" in row and "2.75" in row


def test_live_view_starts_and_stops_on_a_terminal(sweep):
    points, tables = sweep
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    progress = Progress("smoke", len(points), planned_flops=1.0, live=True, console=console)
    tables.trial_started(points[0])
    progress.update(tables, points[0])
    assert progress._live is not None
    progress.close()
    assert "smoke  0/4 done, 1 running" in out.getvalue()
    assert progress._live is None


def test_durations():
    assert [format_duration(s) for s in (None, 42, 185, 3720)] == ["?", "42s", "3m05s", "1h02m"]


def test_live_frame_survives_tables_changing_under_it(sweep, monkeypatch):
    points, tables = sweep
    progress = Progress("smoke", len(points), live=False)
    progress._tables = tables
    first = progress._latest()

    def changing(_tables):
        raise RuntimeError("dictionary changed size during iteration")

    monkeypatch.setattr(progress, "snapshot", changing)
    assert progress._latest() is first  # the previous frame, not a dead refresh thread


def test_eta_stays_above_zero_while_trials_run_past_their_planned_flops(sweep, monkeypatch):
    """Cooldown branches add FLOPs the plan does not count, and a slower host than the one the
    rate was measured on leaves trials to run: the ETA never says 0s while any remain."""
    points, tables = sweep
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    planned_f, planned_t = sum(p.flops for p in points), sum(p.tokens for p in points)
    progress = Progress(
        "smoke", len(points), planned_flops=planned_f, planned_tokens=planned_t, live=False
    )
    first, second, *rest = points
    for point in (first, second):
        tables.trial_started(point)
        progress.watch(point, tables)
    clock[0] = 200.0
    # Branches inflate the FLOPs column by 3x: counted by FLOPs the plan would be "done".
    for point, share in ((first, 0.9), (second, 0.9)):
        tables.trial_reported(
            point.trial_id,
            {TOKENS: point.tokens * share, FLOPS: 3 * point.flops, TOKENS_PER_S: 10.0},
        )
    eta = progress.snapshot(tables).eta_s
    assert eta is not None and eta > 0
    # Never under the slowest running trial's own remaining time at its measured speed.
    assert eta >= 0.1 * max(first.tokens, second.tokens) / 10.0 - 1e-6
    assert rest, "the smoke sweep plans more trials than the two running"
