"""What a running sweep shows: a live view on a terminal, timestamped lines elsewhere.

The state comes from the result tables (statuses, each trial's last report) plus the planned
size of each started trial, so the view needs no extra reporting from the trials. The ETA is the
planned work not yet done over the work per second measured in this run, where a trial's work
is its planned FLOPs plus a per-token cost fitted across the trials seen so far (a small model's
step is mostly Python and kernel launches, not FLOPs: counted by FLOPs alone, a sweep's last
quarter of small trials showed "ETA 0s" for minutes), done in proportion to its tokens, and it
is never under the time the slowest running trial still needs at its own speed. On a terminal
`sweeps.watch.terminal` draws it with rich; in logs and CI a line is printed when a trial starts
or ends.

    progress = Progress("scaling", total=15, planned_flops=sum(t.flops for t in plan.trials),
                        planned_tokens=sum(t.tokens for t in plan.trials))
    progress.update(tables, point)   # "16:02:11 [scaling] 3/15 done, 2 running, 0 failed | ..."
    progress.close()
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from contract.metrics import TOKENS, TOKENS_PER_S, TRAIN_LOSS
from contract.results import FAILED, FINISHED, RUNNING, STAGE, STATUS, STOPPED, TAG, best_column


@dataclass(frozen=True)
class RunningTrial:
    """One running trial as the view shows it."""

    tag: str
    tokens: float
    planned_tokens: float
    tokens_per_s: float | None
    loss: float | None


@dataclass(frozen=True)
class Snapshot:
    """Everything the view shows at one moment (pure data: the live view and the plain line
    both render it)."""

    name: str
    elapsed_s: float
    eta_s: float | None
    done: int
    total: int
    failed: int
    running: list[RunningTrial]
    metric: str
    best: tuple[float, str] | None
    """Best value of the sweep metric so far and the trial's tag."""


@dataclass
class _Watched:
    planned_tokens: float
    planned_flops: float
    first_tokens: float = 0.0


def format_duration(seconds: float | None) -> str:
    """`1h02m`, `3m05s`, `42s`; `?` while unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def summary_text(snap: Snapshot) -> str:
    """`3/36 done, 2 running, 0 failed | elapsed 1m12s, ETA 58s | best eval/loss 2.7 (tag)`:
    the plain line's words, also the live page's progress line."""
    text = (
        f"{snap.done}/{snap.total} done, {len(snap.running)} running, {snap.failed} failed | "
        f"elapsed {format_duration(snap.elapsed_s)}, ETA {format_duration(snap.eta_s)}"
    )
    if snap.best is not None:
        text += f" | best {snap.metric} {snap.best[0]:.4g} ({snap.best[1]})"
    return text


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


class Progress:
    """The sweep's progress view, fed by the runner's Tune callback."""

    def __init__(
        self,
        name: str,
        total: int,
        planned_flops: float | None = None,
        live: bool | None = None,
        console: Any = None,
        planned_tokens: float | None = None,
    ) -> None:
        """`planned_flops`: training FLOPs of the trials this run will train (None: no ETA);
        `planned_tokens`: their tokens (None: the ETA counts FLOPs only).
        `live`: draw the rich view (default: when standard output is a terminal)."""
        self.name, self.total, self.planned_flops = name, total, planned_flops
        self.planned_tokens = planned_tokens
        self._live_wanted, self._console = live, console
        self._watched: dict[str, _Watched] = {}
        self._start = time.monotonic()
        self._last = ""
        self._live: Any = None
        self._frame: Snapshot | None = None
        self._tables: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment; a live display is not picklable.
        return {**self.__dict__, "_live": None, "_console": None}

    # -- state ----------------------------------------------------------------------------------
    def watch(self, point: Any, tables: Any) -> None:
        """A trial started: remember how much it plans to train and where it starts from."""
        row = tables.trials.get(point.trial_id, {})
        self._watched[point.trial_id] = _Watched(
            planned_tokens=float(point.tokens),
            planned_flops=float(point.flops),
            first_tokens=_number(row.get(TOKENS)) or 0.0,
        )

    def snapshot(self, tables: Any) -> Snapshot:
        counts = tables.summary()
        rows = tables.trials
        running = []
        for trial_id, row in list(rows.items()):
            if row.get(STATUS) != RUNNING or row.get(STAGE, tables.stage) != tables.stage:
                continue
            watched = self._watched.get(trial_id)
            running.append(
                RunningTrial(
                    tag=str(row.get(TAG, trial_id)),
                    tokens=_number(row.get(TOKENS)) or 0.0,
                    planned_tokens=watched.planned_tokens if watched else 0.0,
                    tokens_per_s=_number(row.get(TOKENS_PER_S)),
                    loss=_number(row.get(TRAIN_LOSS)),
                )
            )
        best_row = tables.best()
        best = None
        if best_row is not None:
            best = (float(best_row[best_column(tables.metric)]), str(best_row.get(TAG, "")))
        elapsed = time.monotonic() - self._start
        return Snapshot(
            name=self.name,
            elapsed_s=elapsed,
            eta_s=self._eta(rows, elapsed),
            done=counts.get(FINISHED, 0) + counts.get(STOPPED, 0),
            total=self.total,
            failed=counts.get(FAILED, 0),
            running=sorted(running, key=lambda t: t.tag),
            metric=tables.metric,
            best=best,
        )

    def _overhead_per_token(self, rows: dict[str, dict[str, Any]]) -> float:
        """FLOP-equivalents of the per-token cost that does not grow with the model, fitted
        across the trials seen so far as seconds per token = overhead + FLOPs per token / rate;
        0 until two model sizes have reported a speed, or when the fit is not a cost."""
        pairs = []
        for trial_id, watched in self._watched.items():
            speed = _number(rows.get(trial_id, {}).get(TOKENS_PER_S))
            if speed and speed > 0 and watched.planned_tokens > 0:
                pairs.append((watched.planned_flops / watched.planned_tokens, 1.0 / speed))
        if self.planned_tokens is None or len({x for x, _ in pairs}) < 2:
            return 0.0
        mean_x = sum(x for x, _ in pairs) / len(pairs)
        mean_y = sum(y for _, y in pairs) / len(pairs)
        spread = sum((x - mean_x) ** 2 for x, _ in pairs)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in pairs) / spread
        overhead = mean_y - slope * mean_x
        return overhead / slope if slope > 0 and overhead > 0 else 0.0

    def _eta(self, rows: dict[str, dict[str, Any]], elapsed: float) -> float | None:
        """Planned work not done yet / work per second done in this run. A trial's work is its
        planned FLOPs plus the fitted per-token overhead, done in proportion to its tokens: its
        FLOPs column also counts cooldown branches, which its plan does not (counted by FLOPs,
        a sweep with branches was "done" with trials still to run and showed ETA 0s). A trial
        that ended has nothing left to do. Never under the longest time a running trial still
        needs at its own measured speed: the work rate is an average over trials of every size
        and says little about the last ones."""
        if not self.planned_flops or not self._watched:
            return None
        k = self._overhead_per_token(rows)
        planned = self.planned_flops + k * (self.planned_tokens or 0.0)
        done = progressed = slowest = 0.0
        for trial_id, watched in self._watched.items():
            if watched.planned_tokens <= 0:
                continue
            row = rows.get(trial_id, {})
            work = watched.planned_flops + k * watched.planned_tokens
            tokens = _number(row.get(TOKENS)) or watched.first_tokens
            share = min(1.0, tokens / watched.planned_tokens)
            progressed += work * max(
                0.0, share - min(1.0, watched.first_tokens / watched.planned_tokens)
            )
            if row.get(STATUS) != RUNNING:
                share = 1.0
            elif (speed := _number(row.get(TOKENS_PER_S))) and speed > 0:
                slowest = max(slowest, (1.0 - share) * watched.planned_tokens / speed)
            done += work * share
        if progressed <= 0 or elapsed <= 0:
            return None
        return max(max(0.0, planned - done) / (progressed / elapsed), slowest)

    # -- output ---------------------------------------------------------------------------------
    def line(self, tables: Any) -> str:
        """The plain, timestamped line (logs, CI)."""
        snap = self.snapshot(tables)
        return f"{time.strftime('%H:%M:%S')} [{snap.name}] {summary_text(snap)}"

    def update(self, tables: Any, point: Any = None) -> None:
        """A trial started (`point`) or ended: refresh the view."""
        if point is not None:
            self.watch(point, tables)
        self._tables = tables
        if self._use_live():
            self._start_live()
            return
        text = self.line(tables)
        # Printed when the counts change, not on every report; the clock is not a change.
        key = text.split(" ", 1)[1].split(" | elapsed")[0] + text.rsplit(" | best", 1)[-1]
        if key != self._last:
            print(text, file=sys.stdout, flush=True)  # looked up late: Tune pickles callbacks
            self._last = key

    def close(self) -> None:
        """Stop the live view, leaving its last frame on the terminal."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _use_live(self) -> bool:
        if self._live_wanted is None:
            self._live_wanted = sys.stdout.isatty()
        return self._live_wanted

    def _start_live(self) -> None:
        if self._live is not None:
            return
        from sweeps.watch.terminal import start_live

        self._live = start_live(self._latest, self._console)

    def _latest(self) -> Snapshot:
        """The snapshot for rich's refresh thread, which reads the tables while the driver's
        thread writes them: a read that meets a table mid-change shows the previous frame."""
        for _ in range(3):
            try:
                self._frame = self.snapshot(self._tables)
                break
            except RuntimeError:  # "dictionary changed size during iteration"
                if self._frame is not None:
                    break
        return self._frame
