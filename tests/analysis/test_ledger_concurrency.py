"""Two sweeps sharing a storage root may score their forecasts at the same moment: the ledger
keeps one header and every row, each once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pandas as pd

from analysis.forecast.ledger import append_row, read_ledger
from contract.forecast import LEDGER_COLUMNS, LEDGER_FILE

WRITERS = 6
ROWS_EACH = 5


def _row(forecast_id: str, run: str) -> dict[str, object]:
    return {column: "" for column in LEDGER_COLUMNS} | {
        "forecast_id": forecast_id,
        "run": run,
        "predicted_loss": 1.0,
        "realised_loss": 1.01,
    }


def _write(path: str, writer: int, start: mp.synchronize.Barrier) -> None:
    start.wait()  # every writer's first append meets a ledger that does not exist yet
    for k in range(ROWS_EACH):
        append_row(Path(path), _row(f"f{writer}", f"r{k}"))
        append_row(Path(path), _row(f"f{writer}", f"r{k}"))  # the same row again: skipped


def test_simultaneous_writers_keep_one_header_and_every_row_once(tmp_path: Path):
    ctx = mp.get_context("fork")
    for attempt in range(5):  # each attempt races on a ledger of its own
        path = tmp_path / str(attempt) / LEDGER_FILE
        start = ctx.Barrier(WRITERS)
        procs = [ctx.Process(target=_write, args=(str(path), w, start)) for w in range(WRITERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        lines = path.read_text(encoding="utf-8").splitlines()
        assert sum(line.startswith("forecast_id,") for line in lines) == 1, lines[:3]
        table = pd.read_csv(path, dtype=str)
        assert len(table) == WRITERS * ROWS_EACH
        assert not table.duplicated(["forecast_id", "run"]).any()


def test_a_ledger_created_but_not_yet_written_reads_as_empty(tmp_path: Path):
    path = tmp_path / LEDGER_FILE
    path.touch()
    table = read_ledger(path)
    assert table.empty and list(table.columns) == list(LEDGER_COLUMNS)
