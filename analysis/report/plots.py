"""Paper-quality figures of an ``Analysis``: fits with bands and extrapolation, IsoFLOP curves,
the compute-optimal frontier and residuals, each written as PNG, SVG and PDF.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot), so plotting never
needs a display and never changes the backend of a notebook that imports this module. Runs a
law was fitted to are filled markers; runs it did not use are hollow. The pieces they are drawn
from live in ``analysis.report.figure_parts``; the file stems in ``contract.fit_outputs``.

    paths = write_plots(result, Path("out"))      # out/<name>.png, .svg and .pdf
    fig = loss_figure(result, "chinchilla")        # a Figure to tweak before saving
    fig.savefig("loss_vs_C.pdf")
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis.laws.annealed import annealed_points
from analysis.laws.forms import allocation
from analysis.laws.frontier import budget_labels
from analysis.laws.loss_laws import frontier_points
from analysis.laws.result import Draws, frontier_curves, power_curves
from analysis.outcome import Analysis, LawResult
from analysis.report.figure_parts import (
    BAND_ALPHA,
    LAW_LABELS,
    axis_label,
    band,
    draw_fit,
    draw_predictions,
    forecast_marker,
    law_label,
    log_grid,
    loss_label,
    plain_loss_ticks,
    scatter_used,
    used_mask,
)
from analysis.report.provenance import AXIS_UNITS
from contract.fit_outputs import (
    COMPUTE_LAW_FIGURE,
    FIGURE_FORMATS,
    FRONTIER_FIGURE,
    ISOFLOP_FIGURE,
    OPTIMAL_LOSS_FIGURE,
    RESIDUALS_FIGURE,
    loss_figure_stem,
)


def loss_figure(a: Analysis, law: str) -> Figure:
    """Loss against the law's variable (power, compute) or the compute-optimal L(C) (Approach 3)."""
    res = a.results[law]
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    if law in ("power", "compute"):
        var, top, title = _law_of_one_variable(ax, a, res, law)
    else:
        var, top, title = _optimal_loss(fig, ax, a, res)
    if res.backtest is not None:
        pts = a.data.points
        held = pts[pts["id"].isin(res.backtest.table["id"])]
        if var in held:
            ax.scatter(
                held[var],
                held["loss"],
                s=60,
                facecolors="none",
                edgecolors="C1",
                lw=1.2,
                label="held out in backtest",
                zorder=4,
            )
    ax.axvline(top, color="0.6", ls=":", lw=1)
    ax.set(xscale="log", yscale="log", xlabel=axis_label(var), ylabel=loss_label(a), title=title)
    plain_loss_ticks(ax)
    ax.legend(fontsize=7)
    return fig


def _law_of_one_variable(ax, a: Analysis, res: LawResult, law: str) -> tuple[str, float, str]:
    """The power or compute law on its points; returns (variable, largest run's x, title)."""
    pts, var = a.data.points, res.fit.x
    table = annealed_points(a.data).table if law == "compute" else pts
    extra = [p.inputs[var] for p in res.predictions if var in p.inputs]
    x, top = log_grid(table[var].to_numpy(float), extra)
    # The law describes the lowest loss per X (the compute frontier for C): those rows.
    used = table.index.isin(frontier_points(table, var).index)
    scatter_used(
        ax,
        table[var].to_numpy(float),
        table["loss"].to_numpy(float),
        used,
        label="points" if table is not pts else "runs",
    )
    draws = Draws.of(res)
    bounds = band(power_curves(draws, x), a.config.bootstrap.level) if len(draws) else None
    draw_fit(ax, x, res.fit.predict(x), bounds, top, law_label(law, var))
    draw_predictions(ax, res, var, "loss")
    return var, top, f"{law_label(law, var)} fitted to the lowest loss per {var}"


def _optimal_loss(fig: Figure, ax, a: Analysis, res: LawResult) -> tuple[str, float, str]:
    """Approach 3's compute-optimal loss over every run; returns ("C", largest run's C, title)."""
    pts = a.data.points
    extra = [p.inputs["C"] for p in res.predictions if "C" in p.inputs]
    x, top = log_grid(pts["C"].to_numpy(float), extra)
    used = used_mask(res, pts)
    sc = ax.scatter(
        pts["C"][used],
        pts["loss"][used],
        s=16,
        c=np.log10(pts["N"][used]),
        cmap="viridis",
        zorder=3,
        label="points used by the fit" if (~used).any() else "runs (all used)",
    )
    if (~used).any():
        ax.scatter(
            pts["C"][~used],
            pts["loss"][~used],
            s=16,
            facecolors="none",
            edgecolors="0.4",
            zorder=3,
            label="points not used",
        )
    fig.colorbar(sc, ax=ax, label="log10 non-embedding parameters")
    bounds = None
    if len(res.samples):
        curves = allocation(res.samples, x, a.data.compute)["loss_opt"]
        bounds = band(np.asarray(curves), a.config.bootstrap.level)
    draw_fit(ax, x, res.fit.loss_opt(x), bounds, top, "compute-optimal loss L*(C)")
    draw_predictions(ax, res, "C", "loss_opt")
    return "C", top, "Approach 3: compute-optimal loss against training compute"


def isoflop_figure(a: Analysis) -> Figure | None:
    """Loss against N per FLOP budget, with Approach 3's curve at each budget's own C."""
    if "isoflop" not in a.results and "chinchilla" not in a.results:
        return None
    pts = a.data.points.reset_index(drop=True)
    labels, centres = budget_labels(pts, a.config.frontier)
    groups = [g for g in np.unique(labels) if g >= 0 and (labels == g).sum() >= 2]
    if not groups:
        return None
    fig = Figure(figsize=(6.8, 4.8), layout="constrained")
    ax = fig.add_subplot()
    cmap = mpl.colormaps["plasma"]
    lo, hi = np.log10(np.nanmin(centres[groups])), np.log10(np.nanmax(centres[groups]))
    for g in groups:
        member = labels == g
        c = float(centres[g])
        color = cmap(0.85 * (np.log10(c) - lo) / max(hi - lo, 1e-9))
        ax.scatter(pts["N"][member], pts["loss"][member], s=18, color=color, zorder=3)
        if "chinchilla" in a.results:
            fit = a.results["chinchilla"].fit
            n = np.geomspace(pts["N"][member].min() / 1.5, pts["N"][member].max() * 1.5, 100)
            ax.plot(
                n,
                fit.predict(n, a.data.compute.tokens(c, n)),
                color=color,
                lw=1.2,
                label=f"C = {c:.1e} FLOPs",
            )
            ax.plot(
                fit.n_opt(c), fit.loss_opt(c), "*", color=color, ms=11, mec="k", mew=0.5, zorder=4
            )
    if "isoflop" in a.results:
        m = a.results["isoflop"].fit.points
        ax.plot(m["N"], m["loss"], "kD", ms=5, mfc="none", label="Approach 2 minima", zorder=5)
    ax.plot([], [], "*", color="0.5", mec="k", ms=11, label="Approach 3 optimum")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=axis_label("N"),
        ylabel=loss_label(a),
        title="IsoFLOP profiles: loss against model size at fixed compute",
    )
    member_loss = pts["loss"][np.isin(labels, groups)]
    ax.set_ylim(member_loss.min() * 0.97, np.percentile(member_loss, 98) * 1.03)
    plain_loss_ticks(ax)
    ax.legend(fontsize=7, ncol=2)
    return fig


def frontier_figure(a: Analysis) -> Figure | None:
    """N_opt(C) and D_opt(C) from every approach that was fitted, with the forecasts."""
    laws = [n for n in ("envelope", "isoflop", "chinchilla") if n in a.results]
    if not laws:
        return None
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    extra = [p.inputs["C"] for r in a.results.values() for p in r.predictions if "C" in p.inputs]
    x, top = log_grid(a.data.points["C"].to_numpy(float), extra)
    for i, law in enumerate(laws):
        for ax, var in zip(axes, ("N", "D"), strict=True):
            _allocation_curve(ax, a, law, var, f"C{i}", x, top)
    for ax, var in zip(axes, ("N", "D"), strict=True):
        ax.axvline(top, color="0.6", ls=":", lw=1, label="largest run")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=axis_label("C"),
            ylabel=f"compute-optimal {AXIS_UNITS[var]}",
        )
        ax.legend(fontsize=7)
    fig.suptitle("Compute-optimal allocation (diamonds: forecasts with intervals)")
    return fig


def _allocation_curve(ax, a: Analysis, law: str, var: str, color: str, x, top: float) -> None:
    """One approach's N_opt(C) or D_opt(C): its curve, band, frontier points and forecasts."""
    res = a.results[law]
    fit, level = res.fit, a.config.bootstrap.level
    y = fit.n_opt(x) if var == "N" else fit.d_opt(x)
    exp = fit.a if var == "N" else fit.b
    sym = "a" if var == "N" else "b"
    inside = x <= top
    ax.plot(x[inside], y[inside], color=color, lw=2, label=f"{LAW_LABELS[law]} ({sym} = {exp:.3f})")
    ax.plot(x[~inside], y[~inside], color=color, lw=2, ls="--")
    key = f"{var}_opt"
    if law != "chinchilla":
        ax.scatter(fit.points["C"], fit.points[var], s=16, color=color, zorder=3)
        draws = Draws.of(res)
        if len(draws):
            curves = frontier_curves(draws, x)[0 if var == "N" else 1]
            bounds = band(curves, level)
            if bounds is not None:
                ax.fill_between(x, *bounds, color=color, alpha=BAND_ALPHA / 2, lw=0)
    elif len(res.samples):
        bounds = band(allocation(res.samples, x, a.data.compute)[key], level)
        if bounds is not None:
            ax.fill_between(x, *bounds, color=color, alpha=BAND_ALPHA, lw=0)
    for p in res.predictions:
        if p.quantity == key:
            forecast_marker(ax, p.inputs["C"], p.estimate, color=color, mec="k", ms=5)


def residual_figure(a: Analysis) -> Figure | None:
    """log(observed) - log(fit) for the laws fitted to every run."""
    laws = [n for n in ("power", "chinchilla") if n in a.results]
    if not laws:
        return None
    fig = Figure(figsize=(5.2 * len(laws), 4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(laws)))
    pts = a.data.points
    for ax, law in zip(axes, laws, strict=True):
        res = a.results[law]
        fit = res.fit
        pred = fit.predict(pts[fit.x]) if law == "power" else fit.predict(pts["N"], pts["D"])
        var = fit.x if law == "power" else "C"
        resid = (np.log(pts["loss"]) - np.log(pred)).to_numpy(float)
        used = used_mask(res, pts)
        label = "runs" if res.used_point_ids is None else "points"
        scatter_used(ax, pts[var].to_numpy(float), resid, used, label=label)
        ax.axhline(0, color="k", lw=1)
        ax.set(
            xscale="log",
            xlabel=axis_label(var),
            ylabel="log(observed) − log(fit)",
            title=f"Residuals of {law_label(law, var)}",
        )
        ax.xaxis.set_minor_formatter(NullFormatter())  # under 2 decades they overlap
        ax.legend(fontsize=7)
    return fig


def _plan(a: Analysis) -> list[tuple[str, Callable[[Analysis], Figure | None]]]:
    """(file stem, figure builder) of every plot the analysis may support."""
    plan: list[tuple[str, Callable[[Analysis], Figure | None]]] = []
    if "power" in a.results:
        stem = loss_figure_stem(a.results["power"].fit.x)
        plan.append((stem, partial(loss_figure, law="power")))
    if "chinchilla" in a.results:
        plan.append((OPTIMAL_LOSS_FIGURE, partial(loss_figure, law="chinchilla")))
    if "compute" in a.results:
        plan.append((COMPUTE_LAW_FIGURE, partial(loss_figure, law="compute")))
    return [
        *plan,
        (ISOFLOP_FIGURE, isoflop_figure),
        (FRONTIER_FIGURE, frontier_figure),
        (RESIDUALS_FIGURE, residual_figure),
    ]


_FORKED: tuple[Analysis, list, Path] | None = None
"""What forked plot workers draw: set by ``write_plots`` only while its pool runs."""


def _save(a: Analysis, name: str, build, out_dir: Path) -> list[Path]:
    """Build one figure and save it in every format.

    The constrained layout is solved once, on the first save, then frozen: it is in figure
    fractions, so the SVG and PDF get the same layout without solving it twice more (a third
    of the drawing time).
    """
    fig = build(a)
    if fig is None:
        return []
    paths = []
    for ext in FIGURE_FORMATS:
        path = out_dir / f"{name}.{ext}"
        fig.savefig(path, dpi=150 if ext == "png" else None)
        fig.set_layout_engine("none")
        paths.append(path)
    return paths


def _save_forked(i: int) -> list[Path]:
    a, plan, out_dir = _FORKED
    return _save(a, *plan[i], out_dir)


def write_plots(a: Analysis, out_dir: Path) -> list[Path]:
    """Write every plot the analysis supports as PNG, SVG and PDF; returns the paths.

    Figures are independent, so with several workers (``--workers``) each is drawn in a forked
    process that inherits the analysis (nothing is pickled); the files are the same either way.
    """
    global _FORKED
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = _plan(a)
    workers = min(a.config.bootstrap.n_workers, len(plan))
    if workers > 1 and "fork" in mp.get_all_start_methods():
        _FORKED = (a, plan, out_dir)
        try:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork")) as pool:
                return [p for paths in pool.map(_save_forked, range(len(plan))) for p in paths]
        except (OSError, NotImplementedError):
            pass  # no process support here: draw them in this process
        finally:
            _FORKED = None
    return [p for name, build in plan for p in _save(a, name, build, out_dir)]
