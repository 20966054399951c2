"""Forecasts whose answer is known: four published IsoFLOP series, the largest budget held out.

Each series is fitted on its smaller budgets with the product's analysis (every default law,
bootstrap over runs), the forecast's loss is taken at the held-out budget from the estimator the
analysis chose, and compared with the lowest loss actually measured there. Two splits: the one
the shared data's README measured (Marin: budgets up to 1e20, forecast 3e20, 3.3x; Chinchilla:
up to 1e21, forecast 3e21, 3x) and all but the largest budget (Marin 1.8e20 -> 3e20, 1.7x).

    python bench/published_forecasts.py                     # both splits, 300 resamples
    python bench/published_forecasts.py --resamples 100 --split readme

The rows ship in tests/analysis/data/isoflops_published.csv (see its README for the source).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NamedTuple

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.fit.bootstrap import BootstrapConfig  # noqa: E402
from analysis.fit_all import AnalysisConfig, run_analysis  # noqa: E402
from analysis.load.sweep_tables import load_scaling_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests/analysis/data/isoflops_published.csv"
SERIES = (
    "marin_202603__comma__llama_2",
    "marin_202603__dclm__llama_2",
    "marin_202603__nemotron__llama_2",
    "ml_scalefit__massivetext__chinchilla",
)
README_CUT = {"marin": 1e20, "ml_scalefit": 1e21}
"""Budgets fitted in the shared data README's measurement (``budget <= cut``), by source."""


class Outcome(NamedTuple):
    series: str
    fitted_up_to: float
    target: float
    law: str
    predicted: float
    lo95: float
    hi95: float
    actual: float
    trusted: bool
    warnings: tuple[str, ...]

    @property
    def error(self) -> float:
        return self.predicted / self.actual - 1.0

    @property
    def width(self) -> float:
        return (self.hi95 - self.lo95) / self.predicted

    @property
    def inside(self) -> bool:
        return self.lo95 <= self.actual <= self.hi95


def cuts(table: pd.DataFrame, series: str, split: str) -> tuple[float, float]:
    """(largest budget fitted, held-out budget) of ``series`` under ``split``."""
    budgets = sorted(table.loc[table["experiment"] == series, "budget"].unique())
    if split == "readme":
        cut = README_CUT["marin" if series.startswith("marin") else "ml_scalefit"]
        return max(b for b in budgets if b <= cut), budgets[-1]
    return budgets[-2], budgets[-1]


def evaluate(series: str, fitted_up_to: float, target: float, resamples: int) -> Outcome:
    """Fit ``series`` on budgets <= ``fitted_up_to``, forecast the loss at ``target``."""
    where = f"experiment == '{series}' and budget <= {fitted_up_to:g}"
    data = load_scaling_data(str(TABLE), columns={"N": "params", "D": "tokens"}, where=where)
    cfg = AnalysisConfig(
        predict=({"C": target},), bootstrap=BootstrapConfig(n_resamples=resamples, workers=1)
    )
    result = run_analysis(data, cfg)
    loss = next(r for r in result.precision if r.quantity == "loss")
    table = pd.read_csv(TABLE)
    held = table[(table["experiment"] == series) & (table["budget"] == target)]
    return Outcome(
        series,
        fitted_up_to,
        target,
        loss.law,
        loss.value,
        loss.lo,
        loss.hi,
        float(held["loss"].min()),
        result.trusted,
        result.warnings,
    )


def render(o: Outcome) -> str:
    return (
        f"| {o.series} | <= {o.fitted_up_to:.2g} | {o.target:.2g} "
        f"({o.target / o.fitted_up_to:.1f}x) | {o.law} | {o.predicted:.4f} "
        f"[{o.lo95:.4f}, {o.hi95:.4f}] | {o.actual:.4f} | {o.error:+.2%} | {o.width:.1%} | "
        f"{'yes' if o.inside else 'NO'} | {'OK' if o.trusted else 'CAUTION'} |"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resamples", type=int, default=300, help="bootstrap resamples per fit")
    p.add_argument("--split", choices=["readme", "all-but-largest", "both"], default="both")
    p.add_argument("-v", "--verbose", action="store_true", help="print each fit's warnings")
    args = p.parse_args(argv)
    table = pd.read_csv(TABLE)
    splits = ["readme", "all-but-largest"] if args.split == "both" else [args.split]
    print(
        "| series | fitted | forecast at | loss from | predicted [95 %] | actual (lowest) "
        "| error | width | inside | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    seen = set()
    for split in splits:
        for series in SERIES:
            cut, target = cuts(table, series, split)
            if (series, cut) in seen:
                continue
            seen.add((series, cut))
            outcome = evaluate(series, cut, target, args.resamples)
            print(render(outcome), flush=True)
            if args.verbose:
                for w in outcome.warnings:
                    print(f"    {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
