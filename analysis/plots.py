"""Paper-style PNG plots of an ``Analysis``: fits with bands and extrapolation, IsoFLOP curves,
the compute-optimal frontier and residuals.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot), so plotting never
needs a display and never changes the backend of a notebook that imports this module.

    paths = write_plots(result, Path("out"))      # list of PNG paths written
    fig = loss_figure(result, "chinchilla")        # a Figure to tweak before saving
    fig.savefig("loss_vs_C.pdf")                   # any format matplotlib writes
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter

from analysis.laws import chinchilla_arrays
from analysis.pipeline import Analysis, LawResult

BAND_ALPHA = 0.25
"""Opacity of the bootstrap band."""


def _band(curves: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Pointwise percentile band of (R, G) sample curves; None without samples."""
    finite = curves[np.isfinite(curves).all(axis=1)]
    if len(finite) < 2:
        return None
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(finite, [tail, 100.0 - tail], axis=0)
    return lo, hi


def _grid(data_values: np.ndarray, extra: list[float]) -> tuple[np.ndarray, float]:
    """Log grid from the smallest run to the furthest prediction; returns (grid, data max)."""
    lo, top = float(np.min(data_values)), float(np.max(data_values))
    hi = max([top, *extra])
    return np.geomspace(lo, hi * 1.05 if hi > top else hi, 200), top


def _plain_loss_ticks(ax) -> None:
    """Losses span well under a decade; label ticks 2.2, 2.4 rather than 2.2 x 10^0."""
    lo, hi = ax.get_ylim()
    if hi / lo < 10:
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%.3g"))


def _draw_fit(ax, x: np.ndarray, y: np.ndarray, band, top: float, label: str) -> None:
    inside = x <= top
    ax.plot(x[inside], y[inside], color="C3", lw=2, label=label)
    if (~inside).any():
        ax.plot(x[~inside], y[~inside], color="C3", lw=2, ls="--", label="extrapolation")
    if band is not None:
        ax.fill_between(x, band[0], band[1], color="C3", alpha=BAND_ALPHA, lw=0, label="interval")


def _predictions(ax, res: LawResult, var: str, quantity: str) -> None:
    for p in res.predictions:
        if p.quantity == quantity and var in p.inputs:
            e = p.estimate
            err = None
            if np.isfinite(e.lo):
                err = [[max(e.value - e.lo, 0)], [max(e.hi - e.value, 0)]]
            ax.errorbar([p.inputs[var]], [e.value], yerr=err, fmt="D", color="k", ms=6, capsize=3)


def loss_figure(a: Analysis, law: str) -> Figure:
    """Loss against the law's variable (power) or against compute (Chinchilla frontier)."""
    res, pts, level = a.results[law], a.data.points, a.config.bootstrap.level
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    if law == "power":
        var = res.fit.x
        extra = [p.inputs[var] for p in res.predictions if var in p.inputs]
        x, top = _grid(pts[var].to_numpy(float), extra)
        ax.scatter(pts[var], pts["loss"], s=14, color="C0", label="runs")
        s = res.samples
        band = _band(s[:, :1] + s[:, 1:2] * x[None] ** (-s[:, 2:3]), level) if len(s) else None
        _draw_fit(ax, x, res.fit.predict(x), band, top, "fit")
        _predictions(ax, res, var, "loss")
    else:
        var = "C"
        extra = [p.inputs["C"] for p in res.predictions if "C" in p.inputs]
        x, top = _grid(pts["C"].to_numpy(float), extra)
        sc = ax.scatter(pts["C"], pts["loss"], s=14, c=np.log10(pts["N"]), cmap="viridis")
        fig.colorbar(sc, ax=ax, label="log10 N")
        curves = np.array([chinchilla_arrays(res.samples, c)["loss_opt"] for c in x]).T
        band = _band(curves, level) if len(res.samples) else None
        _draw_fit(ax, x, res.fit.loss_opt(x), band, top, "compute-optimal L(C)")
        _predictions(ax, res, "C", "loss_opt")
    if res.backtest is not None:
        held = pts[pts["id"].isin(res.backtest.table["id"])]
        ax.scatter(
            held[var], held["loss"], s=40, facecolors="none", edgecolors="C1", label="held out"
        )
    ax.set(xscale="log", yscale="log", xlabel=var, ylabel=a.data.metric, title=law)
    _plain_loss_ticks(ax)
    ax.legend(fontsize=8)
    return fig


def isoflop_figure(a: Analysis) -> Figure | None:
    """Loss against N per FLOP budget: measured budgets (Approach 2) or the joint fit's curves."""
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    pts = a.data.points
    edges = np.floor(np.log10(pts["C"]) * 2) / 2  # half-decade budget bins for colouring
    bins = np.unique(edges)
    colors = {b: f"C{i % 10}" for i, b in enumerate(bins)}
    ax.scatter(pts["N"], pts["loss"], s=12, c=[colors[b] for b in edges])
    if "chinchilla" in a.results:
        fit = a.results["chinchilla"].fit
        for b in bins:
            c = 10 ** (b + 0.25)
            n = np.geomspace(pts["N"].min() / 2, pts["N"].max() * 2, 100)
            ax.plot(n, fit.predict(n, c / (6 * n)), color=colors[b], lw=1, label=f"C={c:.1e}")
        ax.plot(fit.n_opt(10 ** (bins + 0.25)), fit.loss_opt(10 ** (bins + 0.25)), "k*", ms=9)
    if "isoflop" in a.results:
        m = a.results["isoflop"].fit.points
        ax.plot(m["N"], m["loss"], "kD", ms=6, label="IsoFLOP minima")
    elif "chinchilla" not in a.results:
        return None
    ax.set(xscale="log", yscale="log", xlabel="N", ylabel=a.data.metric, title="IsoFLOP curves")
    # The top 2% (often diverging tiny models) would squash the curves that matter.
    ax.set_ylim(pts["loss"].min() * 0.97, np.percentile(pts["loss"], 98) * 1.03)
    _plain_loss_ticks(ax)
    ax.legend(fontsize=7, ncol=2)
    return fig


def frontier_figure(a: Analysis) -> Figure | None:
    """N_opt(C) and D_opt(C) from every approach that was fitted."""
    laws = [n for n in ("envelope", "isoflop", "chinchilla") if n in a.results]
    if not laws:
        return None
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    extra = [p.inputs["C"] for r in a.results.values() for p in r.predictions if "C" in p.inputs]
    x, top = _grid(a.data.points["C"].to_numpy(float), extra)
    level = a.config.bootstrap.level
    for i, law in enumerate(laws):
        res, color = a.results[law], f"C{i}"
        fit = res.fit
        ys = (fit.n_opt(x), fit.d_opt(x))
        for ax, y, var in zip(axes, ys, ("N", "D"), strict=True):
            ax.plot(
                x,
                y,
                color=color,
                lw=2,
                label=f"{law} ({'a' if var == 'N' else 'b'}={fit.a if var == 'N' else fit.b:.3f})",
            )
            if law != "chinchilla":
                ax.scatter(fit.points["C"], fit.points[var], s=16, color=color)
            elif len(res.samples):
                key = "N_opt" if var == "N" else "D_opt"
                curves = np.array([chinchilla_arrays(res.samples, c)[key] for c in x]).T
                band = _band(curves, level)
                if band is not None:
                    ax.fill_between(x, *band, color=color, alpha=BAND_ALPHA, lw=0)
    for ax, var in zip(axes, ("N", "D"), strict=True):
        ax.axvline(top, color="0.6", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="C (FLOPs)", ylabel=f"{var}_opt")
        ax.legend(fontsize=8)
    fig.suptitle("compute-optimal frontier")
    return fig


def residual_figure(a: Analysis) -> Figure | None:
    """log(observed) - log(fit) for the laws fitted to every run."""
    laws = [n for n in ("power", "chinchilla") if n in a.results]
    if not laws:
        return None
    fig = Figure(figsize=(5.2 * len(laws), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(laws)))
    pts = a.data.points
    for ax, law in zip(axes, laws, strict=True):
        fit = a.results[law].fit
        pred = fit.predict(pts[fit.x]) if law == "power" else fit.predict(pts["N"], pts["D"])
        var = fit.x if law == "power" else "C"
        ax.scatter(pts[var], np.log(pts["loss"]) - np.log(pred), s=12)
        ax.axhline(0, color="k", lw=1)
        ax.set(xscale="log", xlabel=var, ylabel="log residual", title=law)
    return fig


def write_plots(a: Analysis, out_dir: Path) -> list[Path]:
    """Write every plot the analysis supports as PNG into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Figure | None] = {}
    if "power" in a.results:
        figures[f"loss_vs_{a.results['power'].fit.x}"] = loss_figure(a, "power")
    if "chinchilla" in a.results:
        figures["loss_vs_C"] = loss_figure(a, "chinchilla")
    figures["isoflop"] = isoflop_figure(a)
    figures["frontier"] = frontier_figure(a)
    figures["residuals"] = residual_figure(a)
    paths = []
    for name, fig in figures.items():
        if fig is not None:
            path = out_dir / f"{name}.png"
            fig.savefig(path, dpi=120)
            paths.append(path)
    return paths
