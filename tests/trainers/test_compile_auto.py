"""trainer.compile auto on a CPU: the break-even rule, the per-host record it learns from, the
step timer that decides once, and a real trial that compiles part-way and keeps its losses."""

from __future__ import annotations

import math

import pytest

from contract.metrics import EVAL_LOSS, STEP, TRAIN_LOSS
from data.cache import CACHE_ENV, read_json, write_json
from trainers import compile_auto
from trainers.compile_auto import (
    DEFAULT_COLD_S,
    PROBE_STEPS,
    TIMING_STEPS,
    WARMUP_STEPS,
    AutoCompile,
    HostCosts,
    break_even_steps,
    record_path,
    shape_key,
)
from trainers.lm import train
from trainers.reporter import Context, ListReporter


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder, so no other test's (or host's) compile record is read; the
    decisions are tested as on a host with a C++ compiler."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(compile_auto, "compiler_available", lambda: True)
    return tmp_path / "cache"


def test_break_even_is_compile_cost_over_time_saved_per_step() -> None:
    # 10 ms eager, 2x faster compiled: 5 ms saved a step, so 60 s pays after 12,000 steps.
    assert break_even_steps(60.0, 0.010, 2.0) == pytest.approx(12_000)
    assert break_even_steps(5.0, 0.010, 2.0) == pytest.approx(1_000)
    # No speed-up, or a slow-down: never pays.
    assert break_even_steps(5.0, 0.010, 1.0) == math.inf
    assert break_even_steps(5.0, 0.010, 0.8) == math.inf


def test_host_costs_are_medians_of_the_record(cache, monkeypatch) -> None:
    path = record_path()
    assert HostCosts.load(path) == HostCosts()  # nothing measured: the defaults
    write_json(path, {"cold_s": [30, 50, 1000], "warm_s": [2, 4], "speedup": [1.5], "shapes": []})
    costs = HostCosts.load(path)
    assert (costs.cold_s, costs.warm_s, costs.speedup) == (50, 3, 1.5)
    # 10 ms eager at 1.5x saves 3.33 ms a step: cold pays after 15,000 steps, warm after 900.
    assert not costs.should_compile("k", 0.010, 14_000)
    assert costs.should_compile("k", 0.010, 16_000)
    write_json(path, {"cold_s": [50], "warm_s": [3], "speedup": [1.5], "shapes": ["k"]})
    monkeypatch.setattr(compile_auto, "_inductor_cache_exists", lambda: True)
    warm = HostCosts.load(path)
    assert warm.is_warm("k") and not warm.is_warm("other")
    assert warm.should_compile("k", 0.010, 1_000) and not warm.should_compile("k", 0.010, 800)
    # The compiler's cache folder gone (a wiped /tmp): the shape is cold again.
    monkeypatch.setattr(compile_auto, "_inductor_cache_exists", lambda: False)
    assert not HostCosts.load(path).should_compile("k", 0.010, 1_000)


def _feed(auto: AutoCompile, seconds: float, steps_left: int) -> int | None:
    """Steps fed until `after_step` says compile (its 1-based index), or None."""
    for i in range(1, WARMUP_STEPS + PROBE_STEPS + 1):
        if auto.after_step(seconds, steps_left):
            return i
    return None


def test_auto_decides_once_after_its_probe_then_records(cache) -> None:
    auto = AutoCompile("k")
    # 10 ms eager steps with a million left: pays even cold, decided after the probe.
    assert _feed(auto, 0.010, 10**6) == WARMUP_STEPS + PROBE_STEPS
    assert not auto.after_step(0.010 + 42.0, 10**6)  # the compile step: 42 s over eager
    data = read_json(record_path())
    assert data["cold_s"] == [pytest.approx(42.0)] and data["shapes"] == ["k"]
    # Compiled and eager steps in turn; the machine gets 3x busier half-way, which a
    # speed-up against the probe's (quiet) eager steps would misread as none at all.
    for i in range(2 * TIMING_STEPS):
        slow = 3.0 if i >= TIMING_STEPS else 1.0
        assert auto.use_compiled == (i % 2 == 0)
        assert not auto.after_step((0.005 if auto.use_compiled else 0.010) * slow, 10**6)
    assert auto.done and auto.use_compiled
    assert read_json(record_path())["speedup"] == [pytest.approx(2.0)]
    # The next decision reads this host's numbers: 42 s cold, 2x.
    assert HostCosts.load(record_path()).cold_s == pytest.approx(42.0)


def test_auto_leaves_short_trials_eager_and_records_nothing(cache) -> None:
    auto = AutoCompile("k")
    steps_left = int(break_even_steps(DEFAULT_COLD_S, 0.010, HostCosts().speedup)) - 1
    assert _feed(auto, 0.010, steps_left) is None
    assert auto.done and read_json(record_path()) is None


def test_shape_key_tells_shapes_apart(make_cfg) -> None:
    cfg = make_cfg(4)
    assert shape_key(cfg, 1) == shape_key(make_cfg(8, seed=3), 1)  # budget and seed: same graph
    assert shape_key(cfg, 1) != shape_key(make_cfg(4, batch_size=3), 1)
    assert shape_key(cfg, 1) != shape_key(cfg, 2)
    assert shape_key(cfg, 1) != shape_key(cfg, 1, device="cuda")


def test_a_short_auto_trial_stays_eager(make_cfg, cache, tmp_path, monkeypatch) -> None:
    compiled = []
    monkeypatch.setattr(compile_auto, "compile_model", lambda m: compiled.append(m) or m)
    cfg = make_cfg(WARMUP_STEPS + PROBE_STEPS + 4)
    train(cfg, ListReporter(), Context(trial_dir=str(tmp_path), num_threads=1))
    assert compiled == [] and read_json(record_path()) is None


@pytest.mark.slow
def test_auto_compiles_part_way_with_the_same_losses(make_cfg, cache, tmp_path) -> None:
    """A host whose record says compiling pays at once: the trial compiles after its probe,
    records the compile, and trains to the eager run's losses within float rounding."""
    steps = WARMUP_STEPS + PROBE_STEPS + 2 * TIMING_STEPS + 4
    write_json(record_path(), {"cold_s": [1e-6], "warm_s": [1e-6], "speedup": [2.0]})
    finals = []
    for setting in (False, "auto"):
        reporter = ListReporter()
        cfg = make_cfg(steps, compile=setting, eval_interval_steps=6)
        train(cfg, reporter, Context(trial_dir=str(tmp_path / str(setting)), num_threads=1))
        finals.append(reporter.reports)
    data = read_json(record_path())
    assert len(data["cold_s"]) == 2 and len(data["speedup"]) == 2  # this trial's, measured
    assert data["speedup"][1] > 0
    assert data["shapes"] == [shape_key(make_cfg(steps), 1)]
    eager, auto = finals
    assert [r[STEP] for r in eager] == [r[STEP] for r in auto]
    for a, b in zip(eager, auto, strict=True):
        assert b[TRAIN_LOSS] == pytest.approx(a[TRAIN_LOSS], rel=1e-4)
        assert b[EVAL_LOSS] == pytest.approx(a[EVAL_LOSS], rel=1e-4)


def test_no_cxx_compiler_never_compiles(monkeypatch) -> None:
    monkeypatch.setattr(compile_auto, "compiler_available", lambda: False)
    assert not HostCosts(cold_s=1e-6, speedup=10.0).should_compile("k", 1.0, 10**9)
