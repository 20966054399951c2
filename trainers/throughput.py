"""The peak speed of the hardware a trial runs on, so every report can say its MFU.

MFU (model FLOPs utilisation) is training FLOPs per second (contract.compute's one
definition) over the peak of what the trial was given. On a CPU the peak is measured: a
matmul probe at the trial's own thread count, run once per node and cached on disk (keyed by
host, torch version, thread count and dtype), because CPU peaks vary with the part, the BLAS
and the threads far more than any table could follow. On a GPU the peak is the vendor's dense
figure for the precision the trial trains in (a table); an unknown GPU is probed instead.

    peak = device_peak(torch.device("cpu"), "fp32", threads=1)
    print(peak.flops_per_s, peak.source)   # 9.5e10 "probe: fp32 1024^3 matmul, 1 thread(s)"
    mfu = flops_per_s / peak.flops_per_s
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from data.cache import build_lock, cache_root, read_json, stable_hash, write_json

PROBE_SIZE = 1024
"""Side of the square matmul the probe times: large enough that one core runs it at its BLAS
peak (a 512 matmul was 10-15 % slower on the development machine), small enough to take
well under a second on one thread."""
PROBE_REPEATS = 5
"""Timed rounds; the fastest is kept, since a busy neighbour can only slow a round down."""
PROBE_MATMULS = 3
"""Matmuls per timed round."""

# Dense (no sparsity) peaks in TFLOP/s from the vendors' data sheets: (bf16 tensor, fp32).
# fp32 is the plain CUDA-core rate, since torch keeps fp32 matmuls off TF32 unless asked.
# Matched as substrings of torch.cuda.get_device_name(), the first match winning, so more
# specific names come first.
GPU_PEAK_TFLOPS: tuple[tuple[str, float, float], ...] = (
    ("H100 NVL", 835.0, 60.0),
    ("H100 PCIe", 756.0, 51.0),
    ("H100", 989.0, 67.0),
    ("H200", 989.0, 67.0),
    ("GH200", 989.0, 67.0),
    ("A100", 312.0, 19.5),
    ("A10G", 70.0, 31.2),
    ("A10", 125.0, 31.2),
    ("L40S", 362.0, 91.6),
    ("L4", 121.0, 30.3),
    ("MI300X", 1307.0, 163.4),
)


@dataclass(frozen=True)
class Peak:
    """The peak FLOP/s a trial's MFU is measured against, and where the number came from."""

    flops_per_s: float
    source: str


def gpu_table_peak(device_name: str, precision: str) -> Peak | None:
    """The table's dense peak for a GPU named `device_name` at `precision` (fp32 or bf16),
    or None when the table does not know the GPU."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"trainer.precision must be fp32 or bf16, got {precision!r}")
    for pattern, bf16, fp32 in GPU_PEAK_TFLOPS:
        if pattern.lower() in device_name.lower():
            tflops = bf16 if precision == "bf16" else fp32
            return Peak(tflops * 1e12, f"table: {pattern} {precision} dense peak")
    return None


def _dtype(precision: str) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32


def probe_matmul(device: torch.device, precision: str) -> float:
    """Fastest measured FLOP/s of a PROBE_SIZE^3 matmul on `device` at the current threads."""
    n = PROBE_SIZE
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=_dtype(precision))
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=_dtype(precision))

    def sync() -> None:
        # Kernels are queued on accelerators; time them, not their launches.
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elif device.type == "mps":
            torch.mps.synchronize()

    a @ b  # warm-up: BLAS thread pools, kernel selection
    sync()
    best = float("inf")
    for _ in range(PROBE_REPEATS):
        start = time.perf_counter()
        for _ in range(PROBE_MATMULS):
            a @ b
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 * PROBE_MATMULS / best


def probe_key(threads: int, precision: str) -> dict[str, object]:
    """What a cached CPU probe is valid for: this host, torch build, thread count and dtype."""
    return {
        "host": socket.gethostname(),
        "torch": torch.__version__,
        "threads": threads,
        "precision": precision,
    }


def _load() -> float:
    """The node's 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def _usable(cached: dict | None, key: dict[str, object]) -> bool:
    """A cached probe stands unless it was taken on a busy node and the node is quieter now:
    a probe can only under-measure the peak (a neighbour slows it, nothing speeds it up), and
    an under-measured peak would inflate every later trial's MFU."""
    if cached is None or cached.get("key") != key or "load" not in cached:
        return False
    busy = float(cached["load"]) >= 0.5 * (os.cpu_count() or 1)
    return not (busy and _load() < float(cached["load"]) - 0.5)


def cpu_peak(threads: int, precision: str = "fp32", cache_dir: str | None = None) -> Peak:
    """The CPU peak for `threads` intra-op threads: probed once per node, then read from the
    cache. Trials starting together on a node wait for one probe rather than each timing
    the matmul against the others (which would halve what each measures). A probe taken on
    a busy node is retaken when the node is quieter, keeping the higher of the two."""
    key = probe_key(threads, precision)
    path = cached_probe_path(threads, precision, cache_dir)
    root = path.parent
    root.mkdir(parents=True, exist_ok=True)
    source = f"probe: {precision} {PROBE_SIZE}^3 matmul, {threads} thread(s), cached in {path}"
    cached = read_json(path)
    if _usable(cached, key):
        return Peak(float(cached["flops_per_s"]), source)
    with build_lock(root, path.stem):
        cached = read_json(path)
        if _usable(cached, key):
            return Peak(float(cached["flops_per_s"]), source)
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            load = _load()
            flops_per_s = probe_matmul(torch.device("cpu"), precision)
        finally:
            torch.set_num_threads(previous)
        if cached is not None and cached.get("key") == key:
            # Best of both probes, recorded with the quietest load any probe ran under.
            flops_per_s = max(flops_per_s, float(cached["flops_per_s"]))
            load = min(load, float(cached.get("load", load)))
        write_json(path, {"key": key, "flops_per_s": flops_per_s, "load": load})
    return Peak(flops_per_s, source)


def device_peak(
    device: torch.device, precision: str, threads: int, cache_dir: str | None = None
) -> Peak:
    """The peak a trial on `device` (with `threads` CPU threads) is measured against."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = gpu_table_peak(name, precision)
        if peak is not None:
            return peak
        # Not in the table: a probe of this GPU beats a guess.
        return Peak(probe_matmul(device, precision), f"probe: {name} {precision} matmul")
    if device.type == "mps":
        return Peak(probe_matmul(device, precision), f"probe: mps {precision} matmul")
    return cpu_peak(threads, precision, cache_dir)


def cached_probe_path(threads: int, precision: str = "fp32", cache_dir: str | None = None) -> Path:
    """Where `cpu_peak` keeps its probe for `threads` and `precision` on this host."""
    return cache_root(cache_dir) / "peak" / f"{stable_hash(probe_key(threads, precision))}.json"
