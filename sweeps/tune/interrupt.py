"""Ctrl-C and SIGTERM of a running sweep: the first stops it cleanly, a second aborts at once.

Cluster schedulers send SIGTERM before they kill a job, so both get the same treatment: the
runner stops its trials, marks their rows INTERRUPTED and exits 128 + the signal number
(130 for Ctrl-C, 143 for SIGTERM), and the command line prints the command that continues.

    with INTERRUPT:              # handlers installed; restored on exit
        INTERRUPT.arm()          # again after ray.init, which installs its own
        tuner.fit()              # a Tune stopper polls INTERRUPT.requested
    status = INTERRUPT.exit_status   # None, 130 or 143
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    """The sweep's stop request: which signal asked for it, if any."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._saved: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_status(self) -> int | None:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return None if self.signum is None else 128 + self.signum

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt  # the second one: abort now
        self.signum = signum
        name = signal.Signals(signum).name
        print(
            f"{name}: stopping the sweep after its running trials stop (again to abort at once)",
            file=sys.stderr,
            flush=True,
        )

    def arm(self) -> None:
        """(Re-)install the handlers; only the main thread may."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            current = signal.getsignal(signum)
            if current != self._handle:
                self._saved.setdefault(signum, current)
                signal.signal(signum, self._handle)

    def __enter__(self) -> Interrupt:
        self.signum = None
        self.arm()
        return self

    def __exit__(self, *exc: object) -> None:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in self._saved.items():
                signal.signal(signum, handler)
        self._saved.clear()


INTERRUPT = Interrupt()
"""The driver's one stop request (signal handlers are process-wide)."""
