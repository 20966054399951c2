"""Throughput reporting (FLOP/s, MFU against a cached peak), the GPU peak table, and
trainer.compile: on or off, training gives the same losses."""

from __future__ import annotations

import gc
import json
import math
import os

import pytest
import torch
from pydantic import ValidationError

from contract.compute import training_flops
from contract.metrics import (
    EVAL_LOSS,
    FLOPS_PER_S,
    MFU,
    STEP,
    THROUGHPUT_METRICS,
    TOKENS_PER_S,
    TRAIN_LOSS,
)
from data.cache import CACHE_ENV
from trainers import throughput
from trainers.config import TrainerConfig
from trainers.lm import LMMethod, train
from trainers.reporter import Context, ListReporter
from trainers.runtime import COMPILE_MIN_STEPS, should_compile


@pytest.fixture
def peak_cache(tmp_path, monkeypatch):
    """A fresh probe cache, so a test sees the probe run (and is not fooled by another's)."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_every_report_has_plausible_mfu(make_cfg, peak_cache, tmp_path) -> None:
    reporter = ListReporter()
    cfg = make_cfg(6, eval_interval_steps=2)
    train(cfg, reporter, Context(trial_dir=str(tmp_path), num_threads=1))
    fpt = cfg.model_config_resolved().flops_per_token
    assert len(reporter.reports) == 3
    for report in reporter.reports:
        assert set(THROUGHPUT_METRICS) <= set(report)
        # FLOP/s is tokens/s under the one definition of training compute.
        expected = training_flops(fpt, report[TOKENS_PER_S])
        assert report[FLOPS_PER_S] == pytest.approx(expected, rel=1e-9)
        assert 0 < report[MFU] < 1.5
    # The peak it was measured against is this host's cached 1-thread probe.
    peak = throughput.cpu_peak(1)
    last = reporter.reports[-1]
    assert last[MFU] == pytest.approx(last[FLOPS_PER_S] / peak.flops_per_s, rel=1e-9)


def test_training_steps_run_with_the_heap_frozen(make_cfg, peak_cache, tmp_path, monkeypatch):
    """Full garbage collections skip the objects alive before training (trainers.runtime)."""
    seen: list[int] = []
    real = LMMethod.train_batch

    def recording(self, generator):
        seen.append(gc.get_freeze_count())
        return real(self, generator)

    monkeypatch.setattr(LMMethod, "train_batch", recording)
    train(make_cfg(2), ListReporter(), Context(trial_dir=str(tmp_path), num_threads=1))
    assert len(seen) == 2 and min(seen) > 0
    assert gc.get_freeze_count() == 0  # the trial's objects rejoin the collector


def test_cpu_probe_runs_once_then_is_read_from_the_cache(peak_cache, monkeypatch) -> None:
    calls: list[int] = []
    real = throughput.probe_matmul

    def counting(device: torch.device, precision: str) -> float:
        calls.append(torch.get_num_threads())
        return real(device, precision)

    monkeypatch.setattr(throughput, "probe_matmul", counting)
    first = throughput.cpu_peak(1)
    again = throughput.cpu_peak(1)
    assert calls == [1] and first.flops_per_s == again.flops_per_s > 1e8
    assert throughput.cached_probe_path(1).exists()
    assert "probe" in first.source and "1 thread" in first.source
    # Another thread count is another peak, probed with that many threads.
    throughput.cpu_peak(2)
    assert calls == [1, 2]


def test_cache_from_another_host_or_torch_is_not_used(peak_cache, monkeypatch) -> None:
    monkeypatch.setattr(throughput, "probe_matmul", lambda device, precision: 5e9)
    path = throughput.cached_probe_path(1)
    path.parent.mkdir(parents=True)
    # A file at the right path whose recorded key disagrees (e.g. copied between machines).
    path.write_text('{"key": {"host": "elsewhere"}, "flops_per_s": 1.0, "load": 0.0}')
    assert throughput.cpu_peak(1).flops_per_s == 5e9
    # A probe that does not say how busy the node was is retaken (and the higher one kept).
    key = json.dumps(throughput.probe_key(1, "fp32"))
    path.write_text(f'{{"key": {key}, "flops_per_s": 1e9}}')
    assert throughput.cpu_peak(1).flops_per_s == 5e9


def test_probe_from_a_busy_node_is_retaken_when_quieter(peak_cache, monkeypatch) -> None:
    cpus = os.cpu_count() or 1
    probes = iter([2e9, 8e9, 4e9])
    monkeypatch.setattr(throughput, "probe_matmul", lambda device, precision: next(probes))
    monkeypatch.setattr(throughput, "_load", lambda: 4.0 * cpus)
    assert throughput.cpu_peak(1).flops_per_s == 2e9  # probed on a busy node
    assert throughput.cpu_peak(1).flops_per_s == 2e9  # just as busy: the cache stands
    monkeypatch.setattr(throughput, "_load", lambda: 1.0 * cpus)
    assert throughput.cpu_peak(1).flops_per_s == 8e9  # quieter: retaken, higher kept
    monkeypatch.setattr(throughput, "_load", lambda: 0.0)
    # Quieter still, but the slower probe never lowers the recorded peak.
    assert throughput.cpu_peak(1).flops_per_s == 8e9
    assert throughput.cpu_peak(1).flops_per_s == 8e9  # quiet now: read from the cache
    assert next(probes, None) is None


@pytest.mark.parametrize(
    ("name", "precision", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", "bf16", 989.0),
        ("NVIDIA H100 PCIe", "bf16", 756.0),
        ("NVIDIA H100 NVL", "fp32", 60.0),
        ("NVIDIA H200", "bf16", 989.0),
        ("NVIDIA A100-SXM4-80GB", "bf16", 312.0),
        ("NVIDIA A100-SXM4-80GB", "fp32", 19.5),
        ("NVIDIA A10G", "bf16", 70.0),
        ("NVIDIA A10", "bf16", 125.0),
        ("NVIDIA L40S", "bf16", 362.0),
        ("NVIDIA L4", "bf16", 121.0),
    ],
)
def test_gpu_peak_table_matches_most_specific_name(name, precision, tflops) -> None:
    peak = throughput.gpu_table_peak(name, precision)
    assert peak is not None and peak.flops_per_s == tflops * 1e12
    assert precision in peak.source


def test_gpu_peak_unknown_name_is_probed(monkeypatch) -> None:
    assert throughput.gpu_table_peak("Some Future GPU", "bf16") is None
    with pytest.raises(ValueError, match="trainer.precision"):
        throughput.gpu_table_peak("NVIDIA H100", "fp16")
    # device_peak on a cuda device reads the table, or probes what the table lacks; no GPU
    # is needed to check which.
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(throughput, "probe_matmul", lambda device, precision: 1.0e14)
    assert throughput.device_peak(torch.device("cuda"), "bf16", 1).flops_per_s == 989e12
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Future GPU")
    unknown = throughput.device_peak(torch.device("cuda"), "bf16", 1)
    assert unknown.flops_per_s == 1.0e14 and "probe" in unknown.source


def test_compile_setting() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not should_compile("auto", cpu, 10**6)
    assert should_compile("auto", cuda, COMPILE_MIN_STEPS)
    assert not should_compile("auto", cuda, COMPILE_MIN_STEPS - 1)
    assert should_compile(True, cpu, 1) and not should_compile(False, cuda, 10**6)
    assert TrainerConfig(compile=True).compile is True
    assert TrainerConfig().compile == "auto"
    with pytest.raises(ValidationError, match="compile"):
        TrainerConfig(compile="sometimes")


@pytest.mark.slow
def test_compiled_training_gives_the_same_losses(make_cfg, peak_cache, tmp_path) -> None:
    """torch.compile reorders float arithmetic, nothing else: same batches, same updates."""
    finals = []
    for compile_ in (False, True):
        reporter = ListReporter()
        cfg = make_cfg(4, compile=compile_, eval_interval_steps=2)
        train(cfg, reporter, Context(trial_dir=str(tmp_path / str(compile_)), num_threads=1))
        finals.append(reporter.reports)
    eager, compiled = finals
    assert [r[STEP] for r in eager] == [r[STEP] for r in compiled]
    for a, b in zip(eager, compiled, strict=True):
        assert math.isfinite(b[TRAIN_LOSS])
        assert b[TRAIN_LOSS] == pytest.approx(a[TRAIN_LOSS], rel=1e-4)
        assert b[EVAL_LOSS] == pytest.approx(a[EVAL_LOSS], rel=1e-4)


def test_trials_table_keeps_the_last_reports_speed(tmp_path) -> None:
    from sweeps.folder.tables import ResultTables

    tables = ResultTables(tmp_path, EVAL_LOSS, "min")
    tables.trials["t1"] = {"trial_id": "t1", "status": "RUNNING"}
    for mfu in (0.2, 0.4):
        tables.trial_reported("t1", {STEP: 1, EVAL_LOSS: 3.0, FLOPS_PER_S: mfu * 1e9, MFU: mfu})
    assert tables.trials["t1"][MFU] == 0.4 and tables.trials["t1"][FLOPS_PER_S] == 0.4e9
