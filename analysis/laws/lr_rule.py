"""The learning-rate rule of a sweep: lr*(N) = c N^e, fitted from its own learning-rate axis.

Each size's best lr is located like an IsoFLOP minimum: a parabola in log lr fitted robustly
(soft-L1) to the points around the lowest loss, its vertex the best lr. The vertices are then
fitted as a power law in N, with intervals from a bootstrap that resamples each size's runs.
The held-out regret checks the rule honestly: refit without the largest size, predict its best
lr, and read the loss at that lr off the largest size's parabola against its best observed loss.

    table = lr_table(data)                        # N, lr, loss of every finished run
    rule = fit_lr_rule(table)                     # LRRule(exponent, coefficient, intervals, ...)
    rule.predict(3e6), rule.regret                # lr for a 3M model; held-out regret
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from analysis.load.sweep_tables import ScalingData
from contract.results import TRIAL_ID, TRIALS_FILE

LR_COLUMN = "optim.lr"
"""The learning-rate axis as the result table names it (its dotted config path)."""
MIN_SIZES = 3
"""Sizes (or budgets) with a located best lr needed to fit the rule."""
MIN_LRS = 3
"""Distinct learning rates a size needs for a parabola."""
WINDOW = 2
"""Points either side of the lowest loss used by the parabola (log-lr neighbours)."""


@dataclass(frozen=True)
class Vertex:
    """Best lr of one size and how it was found."""

    N: float
    lr: float
    loss: float
    """Loss at the vertex on the fitted parabola."""
    method: str
    """"parabola", or "grid" when the parabola opened downwards or left the scanned range."""
    coef: tuple[float, float, float]
    """Parabola loss = c0 + c1 u + c2 u^2 in u = log lr (for interpolating regret)."""


@dataclass(frozen=True)
class LRRule:
    """lr*(N) = coefficient x N^exponent with bootstrap intervals."""

    exponent: float
    coefficient: float
    exponent_interval: tuple[float, float]
    """Central 95 % bootstrap interval of the exponent."""
    vertices: tuple[Vertex, ...]
    samples: np.ndarray
    """(R, 2) bootstrap samples of (log coefficient, exponent); NaN rows failed."""
    regret: dict[str, float] | None = None
    """Held-out check on the largest size: N, predicted lr, best lr, loss at both, regret %."""

    def predict(self, N: float) -> float:
        return float(self.coefficient * N**self.exponent)

    def predict_interval(self, N: float, level: float = 0.95) -> tuple[float, float]:
        ok = np.isfinite(self.samples).all(axis=1)
        lr = np.exp(self.samples[ok, 0] + self.samples[ok, 1] * math.log(N))
        if len(lr) < 2:
            return math.nan, math.nan
        tail = 50.0 * (1 - level)
        lo, hi = np.percentile(lr, [tail, 100 - tail])
        return float(lo), float(hi)


def lr_table(data: ScalingData) -> pd.DataFrame | None:
    """N, lr and loss of the kept runs, or None when the sweep has no learning-rate axis."""
    path = Path(data.source) / TRIALS_FILE
    if not path.is_file():
        return None
    raw = pd.read_csv(path, dtype={TRIAL_ID: str}, keep_default_na=False, na_values=[""])
    if LR_COLUMN not in raw.columns or TRIAL_ID not in raw.columns:
        return None
    lrs = pd.to_numeric(raw.set_index(TRIAL_ID)[LR_COLUMN], errors="coerce")
    out = data.points[["id", "N", "loss"]].assign(lr=lrs.reindex(data.points["id"]).to_numpy())
    out = out[np.isfinite(out["lr"]) & (out["lr"] > 0)]
    return out if out["lr"].nunique() >= MIN_LRS else None


def _parabola(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Robust (soft-L1) quadratic fit of y on u; returns (c0, c1, c2)."""
    start = np.polyfit(u, y, 2)[::-1] if len(u) >= 3 else np.array([y.mean(), 0.0, 0.0])
    scale = max(float(np.std(y)), 1e-6)
    res = least_squares(
        lambda c: c[0] + c[1] * u + c[2] * u * u - y,
        start,
        loss="soft_l1",
        f_scale=0.1 * scale,
        xtol=1e-12,
        ftol=1e-12,
        gtol=1e-12,
    )
    return res.x


def best_lr(group: pd.DataFrame) -> Vertex | None:
    """The best lr of one size: vertex of a parabola in log lr around the lowest loss."""
    per_lr = group.groupby("lr")["loss"].min().sort_index()
    if len(per_lr) < MIN_LRS:
        return None
    u_all, y_all = np.log(per_lr.index.to_numpy(float)), per_lr.to_numpy(float)
    k = int(np.argmin(y_all))
    lo, hi = max(0, k - WINDOW), min(len(u_all), k + WINDOW + 1)
    if hi - lo < 3:  # the minimum at an edge: take the 3 nearest points
        lo, hi = (0, 3) if k < len(u_all) / 2 else (len(u_all) - 3, len(u_all))
    u, y = u_all[lo:hi], y_all[lo:hi]
    c = _parabola(u, y)
    N = float(group["N"].iloc[0])
    if c[2] > 0:
        v = -c[1] / (2 * c[2])
        if u_all.min() <= v <= u_all.max():
            return Vertex(
                N, math.exp(v), float(c[0] + c[1] * v + c[2] * v * v), "parabola", tuple(c)
            )
    return Vertex(N, math.exp(u_all[k]), float(y_all[k]), "grid", tuple(c))


def _vertices(table: pd.DataFrame) -> list[Vertex]:
    out = [best_lr(g) for _, g in table.groupby("N")]
    return [v for v in out if v is not None]


def _power(vertices: list[Vertex]) -> tuple[float, float]:
    """(log coefficient, exponent) of lr* = c N^e by least squares in log-log."""
    logn = np.log([v.N for v in vertices])
    loglr = np.log([v.lr for v in vertices])
    e, logc = np.polyfit(logn, loglr, 1)
    return float(logc), float(e)


def _regret(table: pd.DataFrame) -> dict[str, float] | None:
    """Fit without the largest size; loss at its predicted lr vs its best observed loss."""
    sizes = np.sort(table["N"].unique())
    train = _vertices(table[table["N"] < sizes[-1]])
    held = best_lr(table[table["N"] == sizes[-1]])
    if len(train) < 2 or held is None:
        return None
    logc, e = _power(train)
    lr_pred = math.exp(logc + e * math.log(sizes[-1]))
    c0, c1, c2 = held.coef
    u = math.log(lr_pred)
    at_pred = c0 + c1 * u + c2 * u * u  # interpolated on the held-out size's parabola
    best_obs = float(table[table["N"] == sizes[-1]]["loss"].min())
    return {
        "N": float(sizes[-1]),
        "predicted_lr": lr_pred,
        "best_lr": held.lr,
        "loss_at_predicted": float(at_pred),
        "best_observed_loss": best_obs,
        "regret_pct": 100.0 * (at_pred - best_obs) / best_obs,
    }


def fit_lr_rule(table: pd.DataFrame, n_resamples: int = 200, seed: int = 0) -> LRRule:
    """Fit lr*(N) to a table of N, lr, loss; ValueError if fewer than 3 sizes have a vertex."""
    vertices = _vertices(table)
    if len(vertices) < MIN_SIZES:
        raise ValueError(
            f"lr rule: {len(vertices)} sizes with >= {MIN_LRS} learning rates; need {MIN_SIZES}"
        )
    logc, e = _power(vertices)
    rng = np.random.default_rng(seed)
    groups = [g for _, g in table.groupby("N")]
    samples = np.full((n_resamples, 2), np.nan)
    for i in range(n_resamples):
        boot = pd.concat([g.iloc[rng.integers(0, len(g), len(g))] for g in groups])
        vs = _vertices(boot)
        if len(vs) >= MIN_SIZES:
            samples[i] = _power(vs)
    ok = samples[np.isfinite(samples).all(axis=1), 1]
    span = tuple(np.percentile(ok, [2.5, 97.5])) if len(ok) > 1 else (math.nan, math.nan)
    regret = _regret(table) if len(vertices) > MIN_SIZES - 1 else None
    return LRRule(
        e, math.exp(logc), (float(span[0]), float(span[1])), tuple(vertices), samples, regret
    )


def lr_rule_markdown(rule: LRRule, n_star: float | None = None) -> str:
    """The report's learning-rate section."""
    lo, hi = rule.exponent_interval
    lines = [
        "## Learning-rate rule",
        "",
        f"lr*(N) = {rule.coefficient:.4g} N^{rule.exponent:+.3f} (exponent 95 %: "
        f"{lo:+.3f} to {hi:+.3f}), from {len(rule.vertices)} sizes:",
        "",
        "| N | best lr | loss | located by |",
        "|---|---|---|---|",
        *(f"| {v.N:.3g} | {v.lr:.3g} | {v.loss:.4g} | {v.method} |" for v in rule.vertices),
        "",
    ]
    if rule.regret:
        r = rule.regret
        lines.append(
            f"Held-out regret (rule fitted without N = {r['N']:.3g}): predicted lr "
            f"{r['predicted_lr']:.3g} vs best {r['best_lr']:.3g}; loss {r['loss_at_predicted']:.4g} "
            f"vs best observed {r['best_observed_loss']:.4g} ({r['regret_pct']:+.2f} %)."
        )
    if n_star is not None:
        a, b = rule.predict_interval(n_star)
        lines.append(
            f"For N* = {n_star:.3g}: lr = {rule.predict(n_star):.3g} (95 %: {a:.3g}-{b:.3g})."
        )
    return "\n".join([*lines, ""])
