"""The pieces every figure of ``analysis.report.plots`` is drawn from: labels, log grids,
bootstrap bands, fit curves with their extrapolation, used and unused runs, forecasts.

Kept apart from the figures so that each figure reads as what it shows, and a change to how a
band or a forecast is drawn is made once for all of them.

    x, top = log_grid(table["C"].to_numpy(float), [1e21])
    draw_fit(ax, x, fit.predict(x), band(curves, 0.95), top, law_label("power", "N"))
    scatter_used(ax, x_runs, loss, used_mask(res, table))
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FormatStrFormatter

from analysis.outcome import Analysis, LawResult
from analysis.report.provenance import AXIS_UNITS, units
from contract.results import RUN_ID

BAND_ALPHA = 0.25
"""Opacity of the bootstrap band."""
LAW_LABELS = {
    "power": "L(X) = E + A X^-α",  # X replaced by the fitted variable
    "compute": "L(C) = L∞ + A C^-α",
    "chinchilla": "Approach 3",
    "envelope": "Approach 1 (envelope)",
    "isoflop": "Approach 2 (IsoFLOP)",
}


def law_label(law: str, var: str = "X") -> str:
    """The law's legend label with its variable filled in."""
    return LAW_LABELS[law].replace("X", var)


def axis_label(var: str) -> str:
    return f"{AXIS_UNITS[var]} ({var})"


def loss_label(a: Analysis) -> str:
    return f"{a.data.metric} ({units(a.data.metric)})"


def band(curves: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Pointwise percentile band of (R, G) sample curves; None without samples."""
    finite = curves[np.isfinite(curves).all(axis=1)] if len(curves) else curves
    if len(finite) < 2:
        return None
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(finite, [tail, 100.0 - tail], axis=0)
    return lo, hi


def log_grid(data_values: np.ndarray, extra: list[float]) -> tuple[np.ndarray, float]:
    """Log grid from the smallest run to the furthest prediction; returns (grid, data max)."""
    lo, top = float(np.min(data_values)), float(np.max(data_values))
    hi = max([top, *extra])
    return np.geomspace(lo, hi * 1.05 if hi > top else hi, 200), top


def plain_loss_ticks(ax) -> None:
    """Losses span well under a decade; label ticks 2.2, 2.4 rather than 2.2 x 10^0."""
    lo, hi = ax.get_ylim()
    if hi / lo < 10:
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))


def draw_fit(ax, x: np.ndarray, y: np.ndarray, bounds, top: float, label: str, color="C3") -> None:
    """The fit's curve, dashed beyond the largest run, with its bootstrap band ``bounds``."""
    inside = x <= top
    ax.plot(x[inside], y[inside], color=color, lw=2, label=label)
    if (~inside).any():
        ax.plot(x[~inside], y[~inside], color=color, lw=2, ls="--", label="extrapolation")
    if bounds is not None:
        ax.fill_between(
            x, bounds[0], bounds[1], color=color, alpha=BAND_ALPHA, lw=0, label="bootstrap interval"
        )


def used_mask(res: LawResult, table) -> np.ndarray:
    """Which rows of ``table`` the law was fitted to: its runs' rows, or just the points it
    kept of them (``used_point_ids``)."""
    key = RUN_ID if RUN_ID in table.columns else "id"
    used = table[key].astype(str).isin(set(map(str, res.used_ids))).to_numpy()
    if res.used_point_ids is not None and "id" in table.columns:
        used = used & table["id"].astype(str).isin(set(res.used_point_ids)).to_numpy()
    return used


def scatter_used(ax, x, y, used: np.ndarray, color="C0", label="runs") -> None:
    """Runs the fit used as filled markers, the others hollow."""
    ax.scatter(x[used], y[used], s=16, color=color, label=f"{label} used by the fit", zorder=3)
    if (~used).any():
        ax.scatter(
            x[~used],
            y[~used],
            s=16,
            facecolors="none",
            edgecolors=color,
            lw=0.8,
            label=f"{label} not used",
            zorder=3,
        )


def forecast_marker(ax, x: float, estimate, **style) -> None:
    """A forecast as a diamond with its interval (none when the interval is unknown)."""
    err = None
    if np.isfinite(estimate.lo):
        err = [[max(estimate.value - estimate.lo, 0)], [max(estimate.hi - estimate.value, 0)]]
    ax.errorbar([x], [estimate.value], yerr=err, fmt="D", capsize=3, zorder=4, **style)


def draw_predictions(ax, res: LawResult, var: str, quantity: str) -> None:
    """The law's forecasts of ``quantity`` at a single ``var``, in black."""
    for p in res.predictions:
        if p.quantity == quantity and var in p.inputs and len(p.inputs) == 1:
            x = p.inputs[var]
            forecast_marker(ax, x, p.estimate, color="k", ms=6, label=f"forecast at {var}={x:.2g}")
