"""trainer.compile auto on a CPU: compile a trial only when its own measured eager steps say
the compile is repaid before the trial ends, at this host's measured compile cost.

`torch.compile` makes a small model's CPU steps about 1.5x faster, but compiling a shape this
host has never compiled costs tens of seconds (a shape it has, served by the compiler's on-disk
cache, a few), while the main job's trials train for one to three minutes. So a trial first
times a few eager steps, then compiles when the steps it has left would save more than the
compile costs:

    steps_left x eager_step_s x (1 - 1 / speedup) > compile_s  (cold, or warm if cached here)

Every compile a trial makes records its cost and speed-up in a per-host file (and the shape,
so a rerun of the same sweep knows its compiles are warm); decisions use the median of this
host's records, the defaults below until there are some.

    auto = AutoCompile(shape_key(cfg, world_size=1))
    if auto.after_step(step_seconds, steps_left):   # once per training step
        model = compile_model(model)
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from data.cache import build_lock, cache_root, read_json, stable_hash, write_json
from trainers.config import TrialConfig

DEFAULT_COLD_S = 60.0
"""Seconds to compile a new shape's training step, until this host has measured its own:
38-42 s of CPU (65-110 s of wall time on the busy 2-core development machine) for the main
job's 3-layer shapes."""
DEFAULT_WARM_S = 5.0
"""Seconds when the compiler's on-disk cache holds the shape (4.3 s measured)."""
DEFAULT_SPEEDUP = 1.4
"""Eager step time over compiled step time, until measured here (1.45-1.7x measured)."""
WARMUP_STEPS = 2
"""Eager steps left untimed: the first ones pay for allocations and first-call set-up."""
PROBE_STEPS = 8
"""Eager steps timed before deciding (their median is the eager step time)."""
TIMING_STEPS = 8
"""Compiled steps timed after the compile, each followed by an eager step: the speed-up
recorded is the ratio of their medians, taken side by side so that a neighbour's load moving
between the probe and the compile cannot fake one."""
KEEP = 16
"""Measurements of each kind kept per host (the newest)."""


def shape_key(cfg: TrialConfig, world_size: int, device: str = "cpu") -> str:
    """What one compiled training step is specific to: the model, the loss (task), the batch,
    the precision, distributed or not, the device type and the torch build."""
    return stable_hash(
        cfg.model_config_resolved().model_dump(mode="json"),
        cfg.task.type,
        cfg.trainer.batch_size,
        cfg.trainer.precision,
        world_size > 1,
        device,
        torch.__version__,
    )


def record_path(cache_dir: str | None = None) -> Path:
    """This host's compile record (host and torch build in its name)."""
    key = stable_hash(socket.gethostname(), torch.__version__)
    return cache_root(cache_dir) / "compile" / f"{key}.json"


def break_even_steps(compile_s: float, eager_step_s: float, speedup: float) -> float:
    """Training steps after which a compile costing `compile_s` has paid for itself."""
    saved = eager_step_s * (1.0 - 1.0 / speedup) if speedup > 0 else 0.0
    return compile_s / saved if saved > 0 else math.inf


@dataclass(frozen=True)
class HostCosts:
    """This host's compile cost and speed-up: medians of its records, defaults without any."""

    cold_s: float = DEFAULT_COLD_S
    warm_s: float = DEFAULT_WARM_S
    speedup: float = DEFAULT_SPEEDUP
    shapes: frozenset[str] = field(default_factory=frozenset)
    """Shapes this host has compiled (their compiles are warm while the cache folder lasts)."""

    @classmethod
    def load(cls, path: Path) -> HostCosts:
        """The costs recorded at `path` (defaults for what it lacks, or when it is missing)."""
        data = read_json(path) or {}

        def median(name: str, default: float) -> float:
            values = [float(v) for v in data.get(name, []) if float(v) > 0]
            return statistics.median(values) if values else default

        return cls(
            cold_s=median("cold_s", DEFAULT_COLD_S),
            warm_s=median("warm_s", DEFAULT_WARM_S),
            speedup=median("speedup", DEFAULT_SPEEDUP),
            shapes=frozenset(data.get("shapes", [])),
        )

    def is_warm(self, key: str) -> bool:
        """Whether compiling shape `key` should hit the compiler's on-disk cache."""
        return key in self.shapes and _inductor_cache_exists()

    def should_compile(self, key: str, eager_step_s: float, steps_left: int) -> bool:
        """Whether compiling now saves more time over `steps_left` steps than it costs (never
        without the C++ compiler the CPU backend builds its kernels with)."""
        if not compiler_available():
            return False
        cost = self.warm_s if self.is_warm(key) else self.cold_s
        return steps_left > break_even_steps(cost, eager_step_s, self.speedup)


def compiler_available() -> bool:
    """Whether torch.compile's CPU backend finds a C++ compiler here ($CXX, or one on PATH)."""
    names = [os.environ.get("CXX"), "g++", "c++", "clang++"]
    return any(name and shutil.which(name) for name in names)


def _inductor_cache_exists() -> bool:
    try:
        from torch._inductor.runtime.cache_dir_utils import cache_dir
    except ImportError:
        return False
    return os.path.isdir(cache_dir())


def record(path: Path, key: str, **measured: float) -> None:
    """Add one trial's measurements (cold_s or warm_s, speedup) and its shape to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(path.parent, path.stem):
        data = read_json(path) or {}
        for name, value in measured.items():
            if value > 0 and math.isfinite(value):
                data[name] = [*data.get(name, []), value][-KEEP:]
        data["shapes"] = sorted({*data.get("shapes", []), key})
        write_json(path, data)


def compile_model(model: nn.Module) -> nn.Module:
    """`model` compiled for fixed shapes. A trial process that Ray reuses may have compiled
    another trial's model: its graphs are dropped first, so the new shape is compiled
    static (the on-disk cache can serve it) rather than as a slower dynamic-shape graph."""
    torch._dynamo.reset()
    return torch.compile(model, dynamic=False)


class AutoCompile:
    """Times a trial's eager steps, decides once, and records what a compile cost and gave.

    Call `after_step` with each training step's seconds; it returns True exactly once, when
    the caller should compile. After that, `use_compiled` says which module the next step
    should run while compiled and eager steps are timed in turn for the record.
    """

    def __init__(self, key: str, path: Path | None = None) -> None:
        self.key = key
        self.path = path or record_path()
        self.costs = HostCosts.load(self.path)
        self.warm = self.costs.is_warm(key)
        self.phase = "warmup"
        self.seen = 0
        self.eager: list[float] = []
        self.compiled: list[float] = []
        self.eager_after: list[float] = []
        self.use_compiled = True
        """Which module the next step runs (alternates while timing the speed-up)."""
        self.eager_step_s = math.nan
        self.compile_s = math.nan

    @property
    def done(self) -> bool:
        """No more steps to time: decided against compiling, or measured and recorded."""
        return self.phase == "done"

    def after_step(self, seconds: float, steps_left: int) -> bool:
        """Account one training step of `seconds`; True when the caller should compile now."""
        self.seen += 1
        if self.phase == "warmup":
            if self.seen >= WARMUP_STEPS:
                self.phase = "probe"
            return False
        if self.phase == "probe":
            self.eager.append(seconds)
            if len(self.eager) < PROBE_STEPS:
                return False
            self.eager_step_s = statistics.median(self.eager)
            if self.costs.should_compile(self.key, self.eager_step_s, steps_left):
                self.phase = "first"
                return True
            self.phase = "done"
            return False
        if self.phase == "first":
            # The first compiled step carries the compile itself.
            self.compile_s = max(0.0, seconds - self.eager_step_s)
            name = "warm_s" if self.warm else "cold_s"
            record(self.path, self.key, **{name: self.compile_s})
            self.phase = "timing"
            return False
        if self.phase == "timing":
            (self.compiled if self.use_compiled else self.eager_after).append(seconds)
            self.use_compiled = not self.use_compiled
            if len(self.eager_after) >= TIMING_STEPS:
                eager = statistics.median(self.eager_after)
                record(self.path, self.key, speedup=eager / statistics.median(self.compiled))
                self.phase, self.use_compiled = "done", True
        return False
