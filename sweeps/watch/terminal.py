"""The live terminal view of a running sweep, drawn with rich from a `progress.Snapshot`.

A header (elapsed, ETA, done/running/failed, best so far) over a table of the running trials
(tokens done of planned, tokens/s, last training loss), redrawn twice a second by rich's own
refresh thread; what else the driver prints scrolls above it.

    live = start_live(lambda: progress.snapshot(tables))
    ...
    live.stop()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sweeps.watch.progress import Snapshot, format_duration

REFRESH_PER_S = 2
"""Redraws per second: enough for a view of minutes-long trials, cheap for the driver."""


def _si(value: float) -> str:
    """3.2k, 41M: token counts and rates at a glance."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def render(snap: Snapshot) -> Group:
    """The view of one snapshot."""
    header = Text.assemble(
        (f"{snap.name}  ", "bold"),
        f"{snap.done}/{snap.total} done, {len(snap.running)} running, ",
        (f"{snap.failed} failed", "red" if snap.failed else ""),
        f"  |  elapsed {format_duration(snap.elapsed_s)}, ETA {format_duration(snap.eta_s)}",
    )
    if snap.best is not None:
        header.append(f"  |  best {snap.metric} {snap.best[0]:.4g} ({snap.best[1]})", "green")
    table = Table(box=None, pad_edge=False, header_style="dim")
    for column in ("trial", "tokens", "done", "tokens/s", "train/loss"):
        table.add_column(column, justify="left" if column == "trial" else "right")
    for trial in snap.running:
        share = f"{trial.tokens / trial.planned_tokens:.0%}" if trial.planned_tokens else "?"
        table.add_row(
            trial.tag,
            f"{_si(trial.tokens)}/{_si(trial.planned_tokens)}",
            share,
            _si(trial.tokens_per_s) if trial.tokens_per_s is not None else "-",
            f"{trial.loss:.4g}" if trial.loss is not None else "-",
        )
    return Group(header, table) if snap.running else Group(header)


def start_live(snapshot: Callable[[], Snapshot], console: Any = None) -> Live:
    """Start drawing; the caller stops it (the last frame stays on screen)."""
    live = Live(
        get_renderable=lambda: render(snapshot()),
        console=console or Console(),
        refresh_per_second=REFRESH_PER_S,
        transient=False,
    )
    live.start()
    return live
