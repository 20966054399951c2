"""Benchmark of reading a sweep folder's tables: one parse per table versus the earlier two.

The loader used to parse each table twice (the whole file, then its trial_id column again as
text) and curves.csv twice more for a wsd run's branch points; it now parses each table once
(the id column is read as text in the same pass; only a table holding an id like "nan" reads
that column again) and takes the branch points from the small points.csv. Prints, per table,
the earlier two-parse read against the one-parse read, then the whole load_scaling_data of the
folder with the earlier reads substituted (curves.csv parsed a third and fourth time, as the
branch points were) against the loader as it is.

    python bench/load_speed.py                      # a synthetic wsd sweep: 100 runs x 1,000 reports
    python bench/load_speed.py results/scaling --repeat 9
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.load import files, points, sweep_tables  # noqa: E402
from analysis.load.sweep_tables import load_scaling_data  # noqa: E402
from contract.metrics import (  # noqa: E402
    BRANCH_EVAL_LOSS,
    BRANCH_FLOPS,
    BRANCH_FRACTION,
    BRANCH_TOKENS,
    EVAL_LOSS,
    FLOPS,
    PARAMS,
    STEP,
    TOKENS,
)
from contract.points import point_row, points_columns  # noqa: E402
from contract.results import (  # noqa: E402
    CURVES_FILE,
    FINISHED,
    POINTS_FILE,
    STATUS,
    TRIAL_ID,
    TRIALS_FILE,
)

FRACTIONS = (0.25, 0.5, 1.0)


def synthetic_sweep(folder: Path, runs: int, reports: int) -> Path:
    """A finished wsd sweep: `runs` trials of `reports` reports each, cooldown branches at
    FRACTIONS, its three tables written as the runner writes them."""
    curves, trials, pts = [], [], []
    for r in range(runs):
        trial_id, n = f"{r:010x}", 1e4 * (1 + r % 10)
        for step in range(1, reports + 1):
            tokens = step * 256.0
            row = {TRIAL_ID: trial_id, STEP: step, TOKENS: tokens, FLOPS: 6 * n * tokens}
            row[EVAL_LOSS] = 2 + 10 / step**0.3
            fraction = step / reports
            if fraction in FRACTIONS:
                row |= {BRANCH_FRACTION: fraction, BRANCH_TOKENS: tokens}
                row |= {BRANCH_FLOPS: 6 * n * tokens, BRANCH_EVAL_LOSS: row[EVAL_LOSS] - 0.1}
                pts.append(point_row(trial_id, row, EVAL_LOSS))
            curves.append(row)
        trials.append({**curves[-1], STATUS: FINISHED, PARAMS: n})
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(trials).to_csv(folder / TRIALS_FILE, index=False)
    pd.DataFrame(curves).to_csv(folder / CURVES_FILE, index=False)
    pd.DataFrame(pts, columns=points_columns(EVAL_LOSS)).to_csv(folder / POINTS_FILE, index=False)
    return folder


def two_parse_read(path: Path) -> pd.DataFrame:
    """The earlier read: the whole table, then its id column again as text."""
    frame = pd.read_csv(path)
    if TRIAL_ID in frame.columns:
        ids = pd.read_csv(path, usecols=[TRIAL_ID], dtype=str, keep_default_na=False)
        frame[TRIAL_ID] = ids[TRIAL_ID].to_numpy()
    return frame


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    """Least wall time of `repeat` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def earlier_load(folder: Path) -> None:
    """load_scaling_data with the earlier reads: two parses per table, and curves.csv parsed
    again (twice) for the branch points."""
    real_points = points.run_points

    def branch_points_from_curves(folder_, pts, raw, loss_col, metric):
        raw = two_parse_read(folder_ / CURVES_FILE)
        return real_points(folder_, pts, raw, loss_col, metric)

    saved = (sweep_tables.read_table, points.read_table, sweep_tables.run_points)
    sweep_tables.read_table = points.read_table = two_parse_read
    sweep_tables.run_points = branch_points_from_curves
    try:
        load_scaling_data(folder)
    finally:
        sweep_tables.read_table, points.read_table, sweep_tables.run_points = saved


def report(folder: Path, repeat: int) -> None:
    """Print each table's read and the whole load, the earlier way against the loader's."""
    print(f"{'what':<28}{'earlier ms':>12}{'now ms':>10}{'ratio':>8}")
    for name in (TRIALS_FILE, CURVES_FILE):
        path = folder / name
        rows = sum(1 for _ in path.open()) - 1
        old = best_of(repeat, lambda p=path: two_parse_read(p))
        new = best_of(repeat, lambda p=path: files.read_table(p))
        print(f"{f'{name} ({rows} rows)':<28}{old:>12.1f}{new:>10.1f}{old / new:>7.2f}x")
    old = best_of(repeat, lambda: earlier_load(folder))
    new = best_of(repeat, lambda: load_scaling_data(folder))
    print(f"{'load_scaling_data':<28}{old:>12.1f}{new:>10.1f}{old / new:>7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="a sweep folder (default: synthetic)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.folder is not None:
        if not (args.folder / TRIALS_FILE).is_file():
            parser.error(f"{args.folder}: not a sweep folder (no {TRIALS_FILE})")
        report(args.folder, args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="load-speed-") as tmp:
        report(synthetic_sweep(Path(tmp) / "wsd", runs=100, reports=1000), args.repeat)


if __name__ == "__main__":
    main()
