"""The compute-optimal frontier: Chinchilla Approach 1 (envelope) and Approach 2 (IsoFLOP minima).

Both end in power laws N_opt = k_N C^a and D_opt = k_D C^b fitted in log-log space. Approach 1
takes, along FLOPs, the runs (or learning-curve points) that set a new lowest loss; Approach 2
groups runs into compute budgets (the nominal ``budget`` column of a compute sweep when the
table has one, else runs whose FLOPs coincide) and fits a robust parabola of loss against log N
(and log D) around each budget's minimum. Approach 3's closed form lives on ``ChinchillaFit``.

    env = envelope_frontier(data.curves if data.curves is not None else data.points)
    iso = isoflop_frontier(data.points)
    iso.a, iso.n_opt(1e24), iso.tokens_per_param(1e24)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from pydantic import BaseModel, model_validator

from contract.config import FROZEN
from contract.results import BUDGET


class FrontierConfig(BaseModel):
    """How budgets are grouped and IsoFLOP minima located."""

    model_config = FROZEN

    isoflop_gap_decades: float = 0.05
    """Runs whose log10 FLOPs differ by less than this join one budget (decades)."""
    isoflop_max_width_decades: float = 0.15
    """A budget spanning more than this is continuous data, not an IsoFLOP group (decades)."""
    min_points_per_budget: int = 3
    """Distinct model sizes a budget needs before its minimum is located (count)."""
    window_decades: float = 1.0
    """Half-width of the parabola fit around a budget's lowest loss (decades of N or D)."""
    min_grouped_fraction: float = 0.5
    """Share of runs that must sit on a shared FLOP budget for Approach 2 to run (fraction)."""
    envelope_bins_per_decade: int = 10
    """Envelope points kept per decade of FLOPs, so dense curves do not dominate (count)."""

    @model_validator(mode="after")
    def _check(self) -> FrontierConfig:
        if self.min_points_per_budget < 3:
            raise ValueError("min_points_per_budget must be >= 3 to fit a parabola")
        if self.isoflop_gap_decades <= 0 or self.window_decades <= 0:
            raise ValueError("isoflop_gap_decades and window_decades must be > 0")
        if self.envelope_bins_per_decade < 1:
            raise ValueError("envelope_bins_per_decade must be >= 1")
        return self


class FrontierFit(NamedTuple):
    """N_opt = exp(log_kn) C^a and D_opt = exp(log_kd) C^b, with the points they were fitted to."""

    approach: str
    a: float
    b: float
    log_kn: float
    log_kd: float
    points: pd.DataFrame
    """Frontier points: C, N, D, loss (one per envelope bin or IsoFLOP budget)."""
    notes: tuple[str, ...] = ()
    """Budgets or points left out, and why."""
    n_groups: int = 0
    """Budgets considered (Approach 2); ``len(points)`` of them were used."""
    labels: np.ndarray | None = None
    """Budget label per input row (-1: on no budget), for resampling within budgets."""

    def n_opt(self, C: np.ndarray | float) -> np.ndarray:
        return np.exp(self.log_kn) * np.asarray(C, dtype=float) ** self.a

    def d_opt(self, C: np.ndarray | float) -> np.ndarray:
        return np.exp(self.log_kd) * np.asarray(C, dtype=float) ** self.b

    def tokens_per_param(self, C: np.ndarray | float) -> np.ndarray:
        return self.d_opt(C) / self.n_opt(C)

    @property
    def vector(self) -> np.ndarray:
        """(a, log_kn, b, log_kd): what the bootstrap resamples."""
        return np.array([self.a, self.log_kn, self.b, self.log_kd])


def _loglog_fit(approach: str, pts: pd.DataFrame, notes: list[str], **extra) -> FrontierFit:
    logc = np.log(pts["C"].to_numpy(float))
    a, log_kn = np.polyfit(logc, np.log(pts["N"].to_numpy(float)), 1)
    b, log_kd = np.polyfit(logc, np.log(pts["D"].to_numpy(float)), 1)
    return FrontierFit(
        approach, float(a), float(b), float(log_kn), float(log_kd), pts, tuple(notes), **extra
    )


def envelope_frontier(table: pd.DataFrame, config: FrontierConfig | None = None) -> FrontierFit:
    """Approach 1: the points that lower the best loss seen so far as FLOPs grow."""
    cfg = config or FrontierConfig()
    pts = table[["C", "N", "D", "loss"]].dropna()
    pts = pts[(pts[["C", "N", "D"]] > 0).all(axis=1)].sort_values("C", kind="stable")
    loss = pts["loss"].to_numpy(float)
    prev_best = np.concatenate([[np.inf], np.minimum.accumulate(loss)[:-1]])
    pareto = pts[loss < prev_best]
    # Within a FLOPs bin the last Pareto point has the lowest loss; keep only that one.
    bins = np.floor(np.log10(pareto["C"].to_numpy(float)) * cfg.envelope_bins_per_decade)
    keep = np.append(bins[1:] != bins[:-1], True)
    env = pareto[keep].reset_index(drop=True)
    if len(env) < 3 or env["N"].nunique() < 2:
        raise ValueError(f"envelope: only {len(env)} frontier points; need 3 with 2+ model sizes")
    return _loglog_fit("envelope", env, [])


def _robust_parabola(x: np.ndarray, y: np.ndarray, iters: int = 10) -> np.ndarray:
    """Quadratic fit (c2, c1, c0) with Huber weights, so one noisy run cannot move the vertex.

    Solved as 3x3 weighted normal equations in centred x: this runs per budget per bootstrap
    resample, where np.polyfit's SVD would dominate the time.
    """
    xm = x.mean()
    V = np.vander(x - xm, 3)  # (n, 3) columns (x-xm)^2, (x-xm), 1
    w = np.ones_like(y)
    for _ in range(iters + 1):
        Vw = V * w[:, None]
        coef = np.linalg.solve(Vw.T @ V, Vw.T @ y)
        r = np.abs(y - V @ coef)
        scale = 1.4826 * np.median(r)
        if scale <= 1e-12:
            break
        new_w = np.minimum(1.0, 1.345 * scale / np.maximum(r, 1e-300))
        if np.max(np.abs(new_w - w)) < 1e-6:
            break
        w = new_w
    c2, c1, c0 = coef  # back from centred x: expand c2 (x-xm)^2 + c1 (x-xm) + c0
    return np.array([c2, c1 - 2 * c2 * xm, c0 - c1 * xm + c2 * xm * xm])


class BudgetParabola(NamedTuple):
    """One budget's parabola of loss against log10 N, as Approach 2 locates its minimum."""

    budget: float
    """The budget's nominal (or central) FLOPs."""
    n_sizes: int
    """Distinct model sizes on the budget."""
    coef: np.ndarray | None
    """(c2, c1, c0) of loss = c2 x^2 + c1 x + c0, x = log10 N; None when not fitted."""
    lo: float
    """log10 N range of the runs the parabola was fitted to (its window)."""
    hi: float
    vertex: tuple[float, float] | None
    """(log10 N*, loss*) when the minimum is located."""
    reason: str
    """Why there is no located minimum ("" when there is one)."""


def _budget_fit(
    x: np.ndarray, y: np.ndarray, cfg: FrontierConfig
) -> tuple[np.ndarray | None, np.ndarray, tuple[float, float] | None, str]:
    """(coefficients, window x, vertex, reason) of the parabola around the lowest point."""
    x0 = x[np.argmin(y)]
    near = np.abs(x - x0) <= cfg.window_decades
    if near.sum() < 3:
        near = np.zeros_like(near)
        near[np.argsort(np.abs(x - x0), kind="stable")[:3]] = True
    xs, ys = x[near], y[near]
    if len(np.unique(xs)) < 3:
        return None, xs, None, "fewer than 3 distinct sizes near the minimum"
    coef = _robust_parabola(xs, ys)
    c2, c1, _ = coef
    if c2 <= 0:
        return coef, xs, None, "loss is not convex in size around the minimum"
    xv = -c1 / (2 * c2)
    if not xs.min() <= xv <= xs.max():
        return coef, xs, None, "minimum lies outside the sampled sizes"
    return coef, xs, (float(xv), float(np.polyval(coef, xv))), ""


def _budget_minimum(x: np.ndarray, y: np.ndarray, cfg: FrontierConfig) -> tuple[float, float] | str:
    """Vertex (x*, y*) of the parabola around the lowest point, or the reason there is none."""
    _, _, vertex, reason = _budget_fit(x, y, cfg)
    return vertex if vertex is not None else reason


def budget_parabolas(
    table: pd.DataFrame, config: FrontierConfig | None = None
) -> list[BudgetParabola]:
    """Each budget's parabola of loss against log10 N (the fit Approach 2 takes its minimum
    from), for budgets with too few sizes too (coef None): what a live IsoFLOP chart draws
    while the sweep fills its budgets in."""
    cfg = config or FrontierConfig()
    keep = np.isfinite(table[["C", "N", "loss"]].to_numpy(float)).all(axis=1)
    keep &= (table[["C", "N"]].to_numpy(float) > 0).all(axis=1)
    table = table[keep]
    N, loss = table[["N", "loss"]].to_numpy(float).T
    labels, centres = budget_labels(table, cfg)
    out = []
    for g in np.unique(labels[labels >= 0]):
        member = labels == g
        x = np.log10(N[member])
        n_sizes = len(np.unique(x))
        if n_sizes < cfg.min_points_per_budget:
            coef, xs, vertex, reason = None, x, None, f"only {n_sizes} model sizes"
        else:
            coef, xs, vertex, reason = _budget_fit(x, loss[member], cfg)
        out.append(
            BudgetParabola(
                float(centres[g]), n_sizes, coef, float(xs.min()), float(xs.max()), vertex, reason
            )
        )
    return out


def isoflop_budgets(C: np.ndarray, cfg: FrontierConfig) -> np.ndarray:
    """Budget label per run (-1 for runs in a group too wide to be one budget)."""
    logc = np.log10(C)
    order = np.argsort(logc, kind="stable")
    groups = np.cumsum(np.diff(logc[order], prepend=logc[order][0]) > cfg.isoflop_gap_decades)
    labels = np.empty(len(C), dtype=int)
    labels[order] = groups
    for g in np.unique(labels):
        members = logc[labels == g]
        if members.max() - members.min() > cfg.isoflop_max_width_decades:
            labels[labels == g] = -1
    return labels


def on_budget_grid(table: pd.DataFrame) -> bool:
    """Whether every row carries its nominal FLOP budget (a compute-budget sweep's table)."""
    return BUDGET in table.columns and bool(table[BUDGET].notna().all())


def budget_labels(table: pd.DataFrame, cfg: FrontierConfig) -> tuple[np.ndarray, np.ndarray]:
    """(label per row, nominal C per label): the ``budget`` column if every row has one, else
    groups of coinciding FLOPs (label -1 for rows on no budget)."""
    if on_budget_grid(table) and (table[BUDGET] > 0).all():
        values, labels = np.unique(table[BUDGET].to_numpy(float), return_inverse=True)
        return labels, values
    C = table["C"].to_numpy(float)
    labels = isoflop_budgets(C, cfg)
    n = labels.max() + 1 if len(labels) else 0
    centres = np.array(
        [10 ** np.log10(C[labels == g]).mean() if (labels == g).any() else np.nan for g in range(n)]
    )
    return labels, centres


class TooFewMinima(ValueError):
    """Too few budgets with a located minimum for an IsoFLOP frontier. In a bootstrap resample
    that draws a budget's runs with replacement this says the resample lost vertices the planned
    design has, not that the frontier failed to fit."""


def isoflop_frontier(table: pd.DataFrame, config: FrontierConfig | None = None) -> FrontierFit:
    """Approach 2: per-budget minima of loss vs log N and log D, then power laws in C."""
    cfg = config or FrontierConfig()
    keep = np.isfinite(table[["C", "N", "D", "loss"]].to_numpy(float)).all(axis=1)
    keep &= (table[["C", "N", "D"]].to_numpy(float) > 0).all(axis=1)
    table = table[keep]
    C, N, D, loss = table[["C", "N", "D", "loss"]].to_numpy(float).T
    labels, centres = budget_labels(table, cfg)
    rows, notes, on_budget = [], [], 0
    if (labels == -1).any():
        notes.append(f"{int((labels == -1).sum())} runs are not on distinct FLOP budgets")
    groups = np.unique(labels[labels >= 0])
    for g in groups:
        member = labels == g
        c = float(centres[g])
        n_sizes = len(np.unique(N[member]))
        if n_sizes < cfg.min_points_per_budget:
            notes.append(f"C={c:.2e}: only {n_sizes} model sizes")
            continue
        on_budget += int(member.sum())
        n_min = _budget_minimum(np.log10(N[member]), loss[member], cfg)
        d_min = _budget_minimum(np.log10(D[member]), loss[member], cfg)
        reason = next((m for m in (n_min, d_min) if isinstance(m, str)), None)
        if reason is not None:
            notes.append(f"C={c:.2e}: {reason}")
            continue
        rows.append({"C": c, "N": 10 ** n_min[0], "D": 10 ** d_min[0], "loss": n_min[1]})
    if on_budget < cfg.min_grouped_fraction * len(C):
        raise ValueError(
            f"isoflop: only {on_budget} of {len(C)} runs share a FLOP budget with 2+ other sizes; "
            "the data are not an IsoFLOP sweep"
        )
    if len(rows) < 2:
        raise TooFewMinima(
            f"isoflop: {len(rows)} usable FLOP budgets; need 2+ budgets with "
            f"{cfg.min_points_per_budget}+ model sizes each"
        )
    if len(rows) < len(groups) / 2:
        raise TooFewMinima(
            f"isoflop: only {len(rows)} of {len(groups)} FLOP budgets have a located minimum "
            f"({'; '.join(notes)})"
        )
    return _loglog_fit("isoflop", pd.DataFrame(rows), notes, n_groups=len(groups), labels=labels)


def parabola_residuals(table: pd.DataFrame, cfg: FrontierConfig) -> tuple[np.ndarray, np.ndarray]:
    """(fitted loss per row, pooled log residuals) of each budget's parabola in log10 N.

    Rows outside their budget's parabola window, or on a budget without a parabola, get NaN
    (a resample keeps their own loss) and add no residual. The pooled residuals are centred and
    scaled by sqrt(n / (n - 3 per parabola)) so that their spread is the runs' noise, not the
    smaller scatter left after fitting three coefficients per budget.
    """
    loss = table["loss"].to_numpy(float)
    x = np.log10(table["N"].to_numpy(float))
    labels, centres = budget_labels(table, cfg)
    fitted, resid, n_coef = np.full(len(loss), np.nan), [], 0
    for par in budget_parabolas(table, cfg):
        if par.coef is None:
            continue
        member = np.flatnonzero(
            (labels >= 0) & np.isclose(centres[np.maximum(labels, 0)], par.budget, rtol=1e-9)
        )
        member = member[(x[member] >= par.lo - 1e-12) & (x[member] <= par.hi + 1e-12)]
        curve = np.polyval(par.coef, x[member])
        if len(member) < 4 or not (curve > 0).all():
            continue
        fitted[member] = curve
        resid.append(np.log(loss[member] / curve))
        n_coef += 3
    r = np.concatenate(resid) if resid else np.zeros(1)
    scale = np.sqrt(len(r) / (len(r) - n_coef)) if len(r) > n_coef else 1.0
    return fitted, (r - r.mean()) * scale
