"""Paper-quality figures of an ``Analysis``: fits with bands and extrapolation, IsoFLOP curves,
the compute-optimal frontier and residuals, each written as PNG, SVG and PDF.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot), so plotting never
needs a display and never changes the backend of a notebook that imports this module. Runs a
law was fitted to are filled markers; runs it did not use are hollow.

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
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from analysis.laws.annealed import annealed_points
from analysis.laws.forms import allocation
from analysis.laws.frontier import budget_labels
from analysis.laws.loss_laws import frontier_points
from analysis.outcome import Analysis, LawResult
from analysis.report.provenance import AXIS_UNITS, units
from contract.results import RUN_ID

BAND_ALPHA = 0.25
"""Opacity of the bootstrap band."""
FORMATS = ("png", "svg", "pdf")
LAW_LABELS = {
    "power": "L(X) = E + A X^-α",  # X replaced by the fitted variable
    "compute": "L(C) = L∞ + A C^-α",
    "chinchilla": "Approach 3",
    "envelope": "Approach 1 (envelope)",
    "isoflop": "Approach 2 (IsoFLOP)",
}


def law_label(law: str, var: str = "X") -> str:
    return LAW_LABELS[law].replace("X", var)


def _axis(var: str) -> str:
    return f"{AXIS_UNITS[var]} ({var})"


def _loss_label(a: Analysis) -> str:
    return f"{a.data.metric} ({units(a.data.metric)})"


def _band(curves: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Pointwise percentile band of (R, G) sample curves; None without samples."""
    finite = curves[np.isfinite(curves).all(axis=1)] if len(curves) else curves
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


def _draw_fit(ax, x: np.ndarray, y: np.ndarray, band, top: float, label: str, color="C3") -> None:
    inside = x <= top
    ax.plot(x[inside], y[inside], color=color, lw=2, label=label)
    if (~inside).any():
        ax.plot(x[~inside], y[~inside], color=color, lw=2, ls="--", label="extrapolation")
    if band is not None:
        ax.fill_between(
            x, band[0], band[1], color=color, alpha=BAND_ALPHA, lw=0, label="bootstrap interval"
        )


def _used(a: Analysis, res: LawResult, table) -> np.ndarray:
    key = RUN_ID if RUN_ID in table.columns else "id"
    return table[key].astype(str).isin(set(map(str, res.used_ids))).to_numpy()


def _scatter_used(ax, x, y, used: np.ndarray, color="C0", label="runs") -> None:
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


def _predictions(ax, res: LawResult, var: str, quantity: str) -> None:
    for p in res.predictions:
        if p.quantity == quantity and var in p.inputs and len(p.inputs) == 1:
            e = p.estimate
            err = None
            if np.isfinite(e.lo):
                err = [[max(e.value - e.lo, 0)], [max(e.hi - e.value, 0)]]
            ax.errorbar(
                [p.inputs[var]],
                [e.value],
                yerr=err,
                fmt="D",
                color="k",
                ms=6,
                capsize=3,
                zorder=4,
                label=f"forecast at {var}={p.inputs[var]:.2g}",
            )


def loss_figure(a: Analysis, law: str) -> Figure:
    """Loss against the law's variable (power, compute) or the compute-optimal L(C) (Approach 3)."""
    res, level = a.results[law], a.config.bootstrap.level
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    pts = a.data.points
    if law in ("power", "compute"):
        var = res.fit.x
        table = annealed_points(a.data).table if law == "compute" else pts
        extra = [p.inputs[var] for p in res.predictions if var in p.inputs]
        x, top = _grid(table[var].to_numpy(float), extra)
        # The law describes the lowest loss per X (the compute frontier for C): those rows.
        used = table.index.isin(frontier_points(table, var).index)
        _scatter_used(
            ax,
            table[var].to_numpy(float),
            table["loss"].to_numpy(float),
            used,
            label="points" if table is not pts else "runs",
        )
        s = res.samples
        band = _band(s[:, :1] + s[:, 1:2] * x[None] ** (-s[:, 2:3]), level) if len(s) else None
        _draw_fit(ax, x, res.fit.predict(x), band, top, law_label(law, var))
        _predictions(ax, res, var, "loss")
        title = f"{law_label(law, var)} fitted to the lowest loss per {var}"
    else:
        var = "C"
        extra = [p.inputs["C"] for p in res.predictions if "C" in p.inputs]
        x, top = _grid(pts["C"].to_numpy(float), extra)
        sc = ax.scatter(
            pts["C"],
            pts["loss"],
            s=16,
            c=np.log10(pts["N"]),
            cmap="viridis",
            zorder=3,
            label="runs (all used)",
        )
        fig.colorbar(sc, ax=ax, label="log10 non-embedding parameters")
        curves = allocation(res.samples, x, a.data.compute)["loss_opt"] if len(res.samples) else []
        band = _band(np.asarray(curves), level) if len(res.samples) else None
        _draw_fit(ax, x, res.fit.loss_opt(x), band, top, "compute-optimal loss L*(C)")
        _predictions(ax, res, "C", "loss_opt")
        title = "Approach 3: compute-optimal loss against training compute"
    if res.backtest is not None:
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
    ax.set(xscale="log", yscale="log", xlabel=_axis(var), ylabel=_loss_label(a), title=title)
    _plain_loss_ticks(ax)
    ax.legend(fontsize=7)
    return fig


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
        xlabel=_axis("N"),
        ylabel=_loss_label(a),
        title="IsoFLOP profiles: loss against model size at fixed compute",
    )
    member_loss = pts["loss"][np.isin(labels, groups)]
    ax.set_ylim(member_loss.min() * 0.97, np.percentile(member_loss, 98) * 1.03)
    _plain_loss_ticks(ax)
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
    x, top = _grid(a.data.points["C"].to_numpy(float), extra)
    level = a.config.bootstrap.level
    for i, law in enumerate(laws):
        res, color = a.results[law], f"C{i}"
        fit = res.fit
        for ax, var in zip(axes, ("N", "D"), strict=True):
            y = fit.n_opt(x) if var == "N" else fit.d_opt(x)
            exp = fit.a if var == "N" else fit.b
            sym = "a" if var == "N" else "b"
            inside = x <= top
            ax.plot(
                x[inside],
                y[inside],
                color=color,
                lw=2,
                label=f"{LAW_LABELS[law]} ({sym} = {exp:.3f})",
            )
            ax.plot(x[~inside], y[~inside], color=color, lw=2, ls="--")
            key = f"{var}_opt"
            if law != "chinchilla":
                ax.scatter(fit.points["C"], fit.points[var], s=16, color=color, zorder=3)
                s = res.samples
                if len(s):
                    col = (0, 1) if var == "N" else (2, 3)
                    curves = np.exp(s[:, col[1]][:, None]) * x[None] ** s[:, col[0]][:, None]
                    band = _band(curves, level)
                    if band is not None:
                        ax.fill_between(x, *band, color=color, alpha=BAND_ALPHA / 2, lw=0)
            elif len(res.samples):
                band = _band(allocation(res.samples, x, a.data.compute)[key], level)
                if band is not None:
                    ax.fill_between(x, *band, color=color, alpha=BAND_ALPHA, lw=0)
            for p in res.predictions:
                if p.quantity == key:
                    e = p.estimate
                    err = (
                        [[max(e.value - e.lo, 0)], [max(e.hi - e.value, 0)]]
                        if np.isfinite(e.lo)
                        else None
                    )
                    ax.errorbar(
                        [p.inputs["C"]],
                        [e.value],
                        yerr=err,
                        fmt="D",
                        color=color,
                        mec="k",
                        ms=5,
                        capsize=3,
                        zorder=4,
                    )
    for ax, var in zip(axes, ("N", "D"), strict=True):
        ax.axvline(top, color="0.6", ls=":", lw=1, label="largest run")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel=_axis("C"),
            ylabel=f"compute-optimal {AXIS_UNITS[var]}",
        )
        ax.legend(fontsize=7)
    fig.suptitle("Compute-optimal allocation (diamonds: forecasts with intervals)")
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
        res = a.results[law]
        fit = res.fit
        pred = fit.predict(pts[fit.x]) if law == "power" else fit.predict(pts["N"], pts["D"])
        var = fit.x if law == "power" else "C"
        resid = (np.log(pts["loss"]) - np.log(pred)).to_numpy(float)
        used = _used(a, res, pts)
        _scatter_used(ax, pts[var].to_numpy(float), resid, used)
        ax.axhline(0, color="k", lw=1)
        ax.set(
            xscale="log",
            xlabel=_axis(var),
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
        plan.append((f"loss_vs_{a.results['power'].fit.x}", partial(loss_figure, law="power")))
    if "chinchilla" in a.results:
        plan.append(("loss_vs_C", partial(loss_figure, law="chinchilla")))
    if "compute" in a.results:
        plan.append(("compute_law", partial(loss_figure, law="compute")))
    return [
        *plan,
        ("isoflop", isoflop_figure),
        ("frontier", frontier_figure),
        ("residuals", residual_figure),
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
    for ext in FORMATS:
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
