"""The live page's background fit: the finished trials through analysis's Python API, written
as the JSON the page draws (fit.json, charts.json) into a scratch folder.

Runs as its own niced process (`sweeps.watch.server` starts it, at most one at a time), so the
driver never imports pandas or scipy and never spends a fit's CPU. The per-budget parabolas are
written first and on their own: a budget's IsoFLOP curve shows as soon as it has three sizes,
even while the whole-sweep laws cannot be fitted yet.

    python -m sweeps.watch.fit_preview results/scaling --out results/scaling/view/fit.next
    # -> fit.next/charts.json (parabolas, frontier band), fit.next/fit.json (every law)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from analysis import AnalysisConfig, BootstrapConfig, load_scaling_data, run_analysis
from analysis.laws.forms import allocation
from analysis.laws.frontier import budget_parabolas
from analysis.report.render import to_json
from contract.fit_outputs import CHARTS_JSON, FIT_JSON
from contract.fit_settings import SweepFitSettings
from contract.results import BUDGET

GRID_POINTS = 60
"""Points per drawn curve: smooth on a log axis, small in the page's JSON."""


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def parabolas(points: Any) -> list[dict[str, Any]]:
    """Each budget's IsoFLOP parabola over log10 N (analysis.laws.frontier's robust fit) as
    drawable curves, with its vertex, or the reason it has none."""
    out = []
    for p in budget_parabolas(points):
        entry: dict[str, Any] = {"budget": p.budget, "sizes": p.n_sizes, "reason": p.reason}
        if p.coef is not None:
            logn = np.linspace(p.lo, p.hi, GRID_POINTS)
            entry["N"] = _finite(10**logn)
            entry["loss"] = _finite(np.polyval(p.coef, logn))
        if p.vertex is not None:
            entry["vertex"] = {"N": 10 ** p.vertex[0], "loss": p.vertex[1]}
        out.append(entry)
    return out


def _band(curves: np.ndarray, level: float) -> tuple[list, list] | None:
    """Pointwise central `level` band of bootstrap curves (R, G)."""
    curves = np.asarray(curves, dtype=float)
    finite = curves[np.isfinite(curves).all(axis=1)] if curves.ndim == 2 else curves[:0]
    if len(finite) < 2:
        return None
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(finite, [tail, 100.0 - tail], axis=0)
    return _finite(lo), _finite(hi)


def frontier(analysis: Any) -> dict[str, Any] | None:
    """Loss against compute along the fitted frontier: Approach 3's compute-optimal L*(C), else
    the compute law, on a grid from the smallest run to the furthest prediction, with the
    bootstrap band."""
    level = analysis.config.bootstrap.level
    C = analysis.data.points["C"].to_numpy(float)
    for law in ("chinchilla", "compute"):
        res = analysis.results.get(law)
        if res is None:
            continue
        extra = [p.inputs["C"] for p in res.predictions if "C" in p.inputs]
        grid = np.geomspace(C.min(), max([C.max(), *extra]), GRID_POINTS)
        s = res.samples
        if law == "chinchilla":
            centre = res.fit.loss_opt(grid)
            band = (
                _band(allocation(s, grid, analysis.data.compute)["loss_opt"], level)
                if len(s)
                else None
            )
        else:
            centre = res.fit.predict(grid)
            band = (
                _band(s[:, :1] + s[:, 1:2] * grid[None] ** (-s[:, 2:3]), level) if len(s) else None
            )
        return {
            "law": law,
            "C": _finite(grid),
            "loss": _finite(centre),
            "lo": band[0] if band else None,
            "hi": band[1] if band else None,
            "level": level,
        }
    return None


def _points(data: Any) -> list[list[Any]]:
    """Every point the fit used, runs and cooldown-branch points (id `<trial>@<fraction>`):
    id, C, N, loss and the nominal budget (null off a budget grid)."""
    pts = data.points
    budgets = pts[BUDGET] if BUDGET in pts else [None] * len(pts)
    return [
        [str(i), float(c), float(n), float(y), float(b) if b == b and b is not None else None]
        for i, c, n, y, b in zip(pts["id"], pts["C"], pts["N"], pts["loss"], budgets, strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    """Write charts.json, then fit.json when a law can be fitted; exit 2 with one line when
    nothing can (the page shows that line)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--where", help="rows to fit, e.g. \"stage == 'grid'\"")
    p.add_argument("--bootstrap", type=int, default=20)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        data = load_scaling_data(args.sweep, where=args.where)
    except (ValueError, FileNotFoundError) as err:
        print(f"fit_preview: error: {err}", file=sys.stderr)
        return 2
    charts: dict[str, Any] = {"parabolas": parabolas(data.points), "points": _points(data)}
    _write(args.out / CHARTS_JSON, charts)
    config = AnalysisConfig(bootstrap=BootstrapConfig(n_resamples=args.bootstrap, workers=1))
    try:
        config = config.with_sweep_settings(SweepFitSettings.of_spec(data.spec))
        analysis = run_analysis(data, config)
    except ValueError as err:
        print(f"fit_preview: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    charts["frontier"] = frontier(analysis)
    _write(args.out / CHARTS_JSON, charts)
    _write(args.out / FIT_JSON, to_json(analysis))
    return 0


def _write(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, allow_nan=False, default=float) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
