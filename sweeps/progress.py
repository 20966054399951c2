"""One progress line per trial event: done / running / failed, and the best trial so far.

progress = Progress("scaling", total=15)
progress.update(tables)   # "[scaling] 3/15 done, 2 running, 0 failed | best eval/loss 2.31 (gpt-1m_f1)"
"""

from __future__ import annotations

import sys
from typing import Any

from contract.results import FAILED, FINISHED, RUNNING, STOPPED, best_column


class Progress:
    def __init__(self, name: str, total: int) -> None:
        self.name, self.total = name, total
        self._last = ""

    def line(self, tables: Any) -> str:
        counts = tables.summary()
        done = counts.get(FINISHED, 0) + counts.get(STOPPED, 0)
        text = (
            f"[{self.name}] {done}/{self.total} done, {counts.get(RUNNING, 0)} running, "
            f"{counts.get(FAILED, 0)} failed"
        )
        best = tables.best()
        if best is not None:
            text += (
                f" | best {tables.metric} {best[best_column(tables.metric)]:.4g} ({best['tag']})"
            )
        return text

    def update(self, tables: Any) -> None:
        text = self.line(tables)
        if text != self._last:
            print(text, file=sys.stdout, flush=True)  # looked up late: Tune pickles callbacks
            self._last = text
