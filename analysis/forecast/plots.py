"""Figures of the forecast loop: forecast against outcome across the ledger, and the lr rule.

Kept apart from ``analysis.report.plots`` (the law figures) because they read the ledger and the
learning-rate rule, not an ``Analysis``.

    paths = write_ledger_plot(read_ledger(Path("results/forecasts.csv")), Path("results"))
    fig = lr_rule_figure(rule)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from analysis.laws.lr_rule import LRRule  # noqa: E402

FORMATS = ("png", "svg")


def ledger_figure(ledger: pd.DataFrame) -> Figure:
    """Predicted loss with its 80 % / 95 % intervals against the realised loss, per forecast."""
    fig, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
    pred, real = ledger["predicted_loss"].to_numpy(float), ledger["realised_loss"].to_numpy(float)
    for lo, hi, width, label in (("lo95", "hi95", 1.0, "95 %"), ("lo80", "hi80", 3.0, "80 %")):
        err = np.vstack([pred - ledger[lo].to_numpy(float), ledger[hi].to_numpy(float) - pred])
        ax.errorbar(real, pred, yerr=err, fmt="none", lw=width, color="C0", alpha=0.6, label=label)
    inside = ledger["inside95"].astype(str).str.lower() == "true"
    ax.scatter(real[inside], pred[inside], color="C0", zorder=3, label="inside 95 %")
    ax.scatter(real[~inside], pred[~inside], color="C3", marker="x", zorder=3, label="outside")
    both = np.concatenate([pred, real, ledger["lo95"].to_numpy(float), ledger["hi95"]])
    lo, hi = np.nanmin(both), np.nanmax(both)
    pad = 0.05 * (hi - lo or hi)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", ls="--", lw=1, label="y = x")
    for x, y, fid in zip(real, pred, ledger["forecast_id"].astype(str), strict=True):
        ax.annotate(fid[:6], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("realised final loss (nats per token)")
    ax.set_ylabel("forecast final loss (nats per token)")
    ax.set_title(f"Forecasts against outcomes ({len(ledger)} in the ledger)")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def lr_rule_figure(rule: LRRule) -> Figure:
    """Best lr per size (parabola vertices) and the fitted power law with its 95 % band."""
    fig, ax = plt.subplots(figsize=(5.2, 4.2), layout="constrained")
    N = np.array([v.N for v in rule.vertices])
    grid = np.geomspace(N.min() / 2, N.max() * 4, 60)
    ax.scatter(N, [v.lr for v in rule.vertices], color="C0", zorder=3, label="best lr per size")
    ax.plot(grid, [rule.predict(n) for n in grid], color="C3", label="lr*(N) fit")
    band = np.array([rule.predict_interval(n) for n in grid])
    if np.isfinite(band).all():
        ax.fill_between(grid, band[:, 0], band[:, 1], color="C3", alpha=0.15, label="95 %")
    if rule.regret:
        r = rule.regret
        ax.scatter([r["N"]], [r["predicted_lr"]], marker="x", color="k", label="held-out pred.")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("learning rate")
    ax.set_title(f"lr*(N) = {rule.coefficient:.3g} N^{rule.exponent:+.3f}")
    ax.legend(fontsize=8)
    return fig


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``fig`` as PNG and SVG next to ``stem``; returns the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(f".{ext}") for ext in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths
