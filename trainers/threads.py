"""The CPU threads a trial trains with: its reservation, grown into cores that sit idle at a
sweep's tail when the sweep's driver grants them, and shrunk back when a trial waits again.

The driver (`sweeps.tune.tail_threads`) writes a grant, a thread count, into the trial folder's
`THREADS_FILE` while fewer trials remain than the cores hold, and removes it when a trial
waits again. The loop calls `after_step` every step; once a second that looks at the file (one
`stat`). A larger grant is kept only if it pays: the steps after it are timed against the steps
before, and unless they are `KEEP_SPEEDUP` times faster the trial goes back to its own threads
and tries again later. A host busy with work Ray does not see makes OpenMP threads wait on
each other: two threads ran 15-21x slower than one on this project's 2-core machine at a load
average of 3 (38x at 18), so a grant Ray's arithmetic allows can still be a grant to refuse.

    threads = TrialThreads.start(base=1, grant_file=Path("trials/t0/threads"))
    for each step: threads.after_step(step_seconds)
    threads.current   # what torch uses now
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from data.cache import atomic_write_bytes
from trainers import runtime, throughput

THREADS_FILE = "threads"
"""In a trial's folder: the threads its sweep's driver grants it now (absent: its own)."""
THREADS_LOG = "threads.log"
"""In a trial's folder: each grant it tried, kept or gave back, with the step times that
decided it (one line each)."""
POLL_S = 1.0
"""Seconds between looks at the grant file: a `stat` each, so a trial grows into a freed core
(or gives it back) within about a second plus one step."""
TRY_STEPS = 8
"""Steps timed with a new, larger thread count before deciding whether to keep it..."""
TRY_MIN_S = 0.5
"""...and at least this many seconds of them, so a few millisecond steps do not decide."""
KEEP_SPEEDUP = 1.05
"""A larger grant is kept when its steps are at least this much faster than the steps before."""
RETRY_S = 30.0
"""After a refused grant, the next try waits this long, doubling after every refusal."""
BASE_SAMPLES = 3
"""Steps timed at the current threads before a larger grant may be tried against them."""


def write_grant(path: Path, threads: int) -> None:
    """Grant `threads` to the trial whose grant file is `path` (the driver's side)."""
    atomic_write_bytes(path, f"{threads}\n".encode())


def read_grant(path: Path) -> int | None:
    """The threads granted at `path`; None when there is no grant (or an unreadable one)."""
    try:
        value = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return value if value >= 1 else None


def usable_cores() -> int:
    """Cores this process may run on: a grant never goes past the host's real cores, whatever
    Ray was told (a node may claim more CPUs than it has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class _Try:
    """A larger thread count on trial: its steps and their seconds so far."""

    threads: int
    steps: int = 0
    seconds: float = 0.0


@dataclass
class TrialThreads:
    """The thread count of one trial process, following its grant file (see the module)."""

    base: int
    """The threads its reservation gives (resources.cpus_per_worker)."""
    grant_file: Path | None = None
    """Where its driver writes a grant; None: `base` throughout."""
    current: int = field(init=False)
    step_s: float | None = field(init=False, default=None)
    """Mean seconds of a step at `current` (a moving average); what a try is judged against."""
    samples: int = field(init=False, default=0)
    trying: _Try | None = field(init=False, default=None)
    retry_at: float = field(init=False, default=0.0)
    backoff: float = field(init=False, default=RETRY_S)
    next_poll: float = field(init=False, default=0.0)
    seen: int = field(init=False, default=0)
    """The grant at the last look (after the cap): a new one is timed from steps after it."""
    peaks: dict[tuple[str, str, int], float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.current = self.base

    @classmethod
    def start(cls, base: int | None, grant_file: Path | None = None) -> TrialThreads:
        """Set torch to the trial's own threads (None leaves torch's default and never grows)."""
        runtime.set_threads(base)
        if base is None:
            return cls(torch.get_num_threads(), None)
        return cls(base, grant_file)

    def after_step(self, seconds: float, now: float | None = None) -> None:
        """Time the step just taken and, once a second, follow the grant."""
        if self.grant_file is None:
            return
        now = time.monotonic() if now is None else now
        if self.trying is not None:
            self._time_try(seconds, now)
        else:
            self.step_s = seconds if self.step_s is None else 0.8 * self.step_s + 0.2 * seconds
            self.samples += 1
        if now >= self.next_poll:
            self.next_poll = now + POLL_S
            self._follow(now)

    def _follow(self, now: float) -> None:
        granted = max(self.base, min(read_grant(self.grant_file) or self.base, usable_cores()))
        if granted != self.seen:
            self.seen = granted
            if granted > self.current and self.trying is None:
                # The grant came with a neighbour's end: the steps before it shared the host.
                self.step_s, self.samples = None, 0
        if self.trying is not None and granted < self.trying.threads:
            self.trying = None  # the grant shrank mid-try: back to what was kept
            torch.set_num_threads(self.current)
        if granted < self.current:
            self._log(f"grant withdrawn: back from {self.current} to {granted}")
            self._set(granted)  # a trial waits again: give the cores back at once
        elif granted > self.current and self.trying is None:
            if now >= self.retry_at and self.samples >= BASE_SAMPLES:
                self.trying = _Try(granted)
                torch.set_num_threads(granted)
                self._log(
                    f"granted {granted}: trying it against {self._ms(self.step_s)} at {self.current}"
                )

    def _time_try(self, seconds: float, now: float) -> None:
        attempt, before = self.trying, self.step_s or seconds
        attempt.steps += 1
        attempt.seconds += seconds
        # Clearly slower already (oversubscribed cores crawl): give up without finishing.
        hopeless = attempt.seconds > 2 * TRY_STEPS * before
        if not hopeless and (attempt.steps < TRY_STEPS or attempt.seconds < TRY_MIN_S):
            return
        self.trying = None
        mean = attempt.seconds / attempt.steps
        timed = f"{attempt.steps} steps at {self._ms(mean)} against {self._ms(before)}"
        if not hopeless and mean * KEEP_SPEEDUP <= before:
            self._log(f"kept {attempt.threads}: {timed} at {self.current}")
            self._set(attempt.threads)
            self.step_s, self.samples, self.backoff = mean, BASE_SAMPLES, RETRY_S
            return
        self._log(
            f"gave back {attempt.threads}: {timed} at {self.current}; next try in {self.backoff:.0f} s"
        )
        torch.set_num_threads(self.current)
        self.retry_at, self.backoff = now + self.backoff, self.backoff * 2

    def _set(self, threads: int) -> None:
        if threads != self.current:
            self.step_s, self.samples = None, 0  # steps at another count are another speed
        self.current = threads
        torch.set_num_threads(threads)

    @staticmethod
    def _ms(seconds: float | None) -> str:
        return "?" if seconds is None else f"{seconds * 1e3:.1f} ms"

    def _log(self, line: str) -> None:
        """One line in the trial's THREADS_LOG: why it trains with the threads it does."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        try:
            with self.grant_file.with_name(THREADS_LOG).open("a", encoding="utf-8") as f:
                f.write(f"{stamp} {line}\n")
        except OSError:
            pass  # a log line is never worth a trial

    def peak_flops(self, device: torch.device, precision: str) -> float:
        """The peak the trial's MFU is measured against at its current threads (probed once
        per thread count on a CPU, see trainers.throughput)."""
        key = (str(device), precision, self.current)
        if key not in self.peaks:
            peak = throughput.device_peak(device, precision, self.current)
            self.peaks[key] = peak.flops_per_s
        return self.peaks[key]
