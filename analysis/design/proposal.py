"""The next runs of a compute sweep: those that most narrow the predicted loss at a target.

From a finished sweep's own Approach-3 fit and the scatter of its points about it, candidate runs
are scored by how much prediction variance of the compute-optimal loss at the target they remove
per FLOP (``analysis.design.information``, linearised), and bought greedily within an allowance.
Candidates: budgets above the largest (up to the target), sizes around each budget's fitted
optimum, and repeats (a new seed) of the runs the fit misses most; a run yields the sweep's own
cooldown points. No budget below the smallest is offered: the simulation takes the sweep's law
to hold there, and on real text it did not, twice (the main job's grid with a budget at 6.25e10
added, once planned and once proposed by this module: the new budget's losses rose with size
from its smallest shape on, and Approach 3's floor E lost its identification, though the
simulation had promised the narrowest intervals per FLOP there). The expected 95 % widths
before and after come from the design check (``analysis.checks.expected_precision``) with the
fit as its prior and the sweep's scatter as its noise: what the real analysis reports on noisy
replicates of each design. A sweep whose `analysis:` section fits Approach 3 from a number of
tokens per parameter on (``approach3_min_tokens_per_param``) is planned the same way: the fit,
its scatter, the information of old and new runs and the simulated widths count only the points
at or above it.

    python analysis/design/proposal.py results/scaling --target 4x --flops 1e13 --json p.json
    proposal = propose(load_scaling_data("results/scaling"), target=4e13, allowance=1e13)
    proposal.runs, proposal.simulated        # [Run(budget, N, kind)], (width before, after)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

if not __package__:  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.checks.expected_precision import SHARED, Prior, expected_precision  # noqa: E402
from analysis.design.information import Candidate, choose, run_information  # noqa: E402
from analysis.fit.power_sums import FitConfig, fit_chinchilla  # noqa: E402
from analysis.laws.forms import ChinchillaFit  # noqa: E402
from analysis.laws.loss_laws import approach3_points, in_approach3_domain  # noqa: E402
from analysis.load.sweep_tables import ScalingData, load_scaling_data  # noqa: E402
from analysis.load.where import apply_where  # noqa: E402
from contract.fit_settings import SweepFitSettings  # noqa: E402
from contract.metrics import FLOPS, PARAMS  # noqa: E402
from contract.results import BUDGET, FINISHED, RUN_ID, STATUS, TRIALS_FILE, WALL_S  # noqa: E402

Z95 = 1.959964
SIZE_STEPS = (-1.0, -0.5, 0.0, 0.5, 1.0)
"""Candidate sizes around a budget's fitted N*, in powers of 2 (N*/2 to 2 N*)."""
ABOVE = (2.0, 4.0)
"""Candidate budgets above the largest, as multiples of it (those up to the target)."""
REPEATS = 6
"""Runs with the largest residuals offered again with a new seed."""
TOKENS_PER_PARAM = (1.0, 1000.0)
"""Candidates outside this D/N are left out (under-trained, or sizes the law never saw)."""


@dataclass(frozen=True)
class Run:
    """A run of the sweep or a proposed one: its nominal budget, size and where it came from."""

    budget: float
    N: float
    kind: str
    """'budget above', 'size' or 'repeat' (a new seed of a run of the sweep)."""
    repeats: str = ""
    """For a repeat: the trial id of the run it repeats (its planned size is in trials.csv)."""


@dataclass(frozen=True)
class Proposal:
    target: float
    allowance: float
    sigma: float
    loss: float
    """The fit's compute-optimal loss at the target."""
    runs: list[Run]
    cost: float
    linear: tuple[float, float]
    """Linearised 95 % width of the predicted loss (a fraction of it), before and after."""
    simulated: tuple[float, float] | None
    """The design check's expected widths of the same, before and after (None: not run)."""
    a_widths: tuple[float, float] | None = None
    """The design check's expected 95 % widths of a, before and after."""
    replicates: tuple[int, int] = (0, 0)

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in ("target", "allowance", "sigma", "loss", "cost")}
        out["runs"] = [
            {BUDGET: r.budget, PARAMS: r.N, "kind": r.kind, "repeats": r.repeats} for r in self.runs
        ]
        out["linear"] = {"before": self.linear[0], "after": self.linear[1]}
        if self.simulated is not None:
            before, after = self.simulated
            reps = list(self.replicates)
            out["simulated"] = {"before": before, "after": after, "replicates": reps}
            out["a_width"] = {"before": self.a_widths[0], "after": self.a_widths[1]}
        return out


def log_loss_jacobian(fit: ChinchillaFit, N: np.ndarray, D: np.ndarray) -> np.ndarray:
    """(points, 5) d log L / d (log E, log A, alpha, log B, beta), the optimiser's order."""
    N, D = np.atleast_1d(np.asarray(N, float)), np.atleast_1d(np.asarray(D, float))
    a_term, b_term = fit.A * N ** (-fit.alpha), fit.B * D ** (-fit.beta)
    total = fit.E + a_term + b_term
    tA, tB = a_term / total, b_term / total
    return np.column_stack([fit.E / total, tA, -tA * np.log(N), tB, -tB * np.log(D)])


def target_gradient(fit: ChinchillaFit, C: float) -> np.ndarray:
    """d log L*(C) / d theta. N* minimises the loss along the budget, so (envelope theorem) the
    gradient is the law's own at (N*, D*): moving N* does not change L* to first order."""
    n_star = float(fit.n_opt(C))
    return log_loss_jacobian(fit, n_star, float(fit.compute.tokens(C, n_star)))[0]


def width(variance: float) -> float:
    """95 % width of a log-normal prediction, as a fraction of its median."""
    sd = math.sqrt(max(variance, 0.0))
    return math.exp(Z95 * sd) - math.exp(-Z95 * sd)


def sweep_runs(points: pd.DataFrame) -> tuple[pd.DataFrame, list[float]]:
    """One row per run (run_id, budget, N) and the cooldown fractions its points sit at (the
    fraction of a point is in its id, ``<trial>@<fraction>``; a plain id is the run's end)."""
    if BUDGET not in points.columns or points[BUDGET].isna().any():
        raise ValueError("the proposer plans compute sweeps: every row needs its nominal budget")
    frac = points["id"].astype(str).str.extract(r"@([0-9.eE+-]+)$")[0].astype(float).fillna(1.0)
    run = points[RUN_ID] if RUN_ID in points.columns else points["id"]
    table = pd.DataFrame({"run": run, BUDGET: points[BUDGET] / frac, "N": points["N"]})
    runs = table.groupby("run", sort=False).agg(**{BUDGET: (BUDGET, "max")}, N=("N", "first"))
    return runs.reset_index(), sorted({round(float(f), 6) for f in frac})


def run_points(fit: ChinchillaFit, budget: float, N: float, fractions: list[float]):
    """(N, D) of the points a run of ``N`` parameters at ``budget`` yields."""
    D = float(fit.compute.tokens(budget, N))
    return np.full(len(fractions), N), D * np.asarray(fractions)


def in_domain(N: np.ndarray, D: np.ndarray, floor: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The points Approach 3 is fitted to: those at ``floor`` or more tokens per parameter."""
    keep = in_approach3_domain(N, D, floor)
    return N[keep], D[keep]


def candidates(
    fit: ChinchillaFit,
    points: pd.DataFrame,
    target: float,
    fractions: list[float],
    cost_factor: float,
    min_params: float = 0.0,
    floor: float | None = None,
) -> list[tuple[Run, Candidate]]:
    """Every candidate run with its Jacobian rows (of its points at ``floor`` or more tokens
    per parameter) and cost (budget x the sweep's FLOPs per budget, cooldown branches
    included)."""
    runs, _ = sweep_runs(points)
    budgets = sorted({float(f"{b:.6g}") for b in runs[BUDGET]})
    new = [(budgets[-1] * k, "budget above") for k in ABOVE if budgets[-1] * k <= target * 1.001]
    out: list[tuple[Run, Candidate]] = []
    planned = [(b, "size") for b in budgets] + new
    for budget, kind in planned:
        n_star = float(fit.n_opt(budget))
        ran = runs.loc[np.isclose(runs[BUDGET], budget, rtol=1e-3), "N"].to_numpy()
        for step in SIZE_STEPS:
            N = float(f"{n_star * 2.0**step:.3g}")
            if len(ran) and np.min(np.abs(np.log(ran / N))) < math.log(2.0) / 4:
                continue  # as good as a repeat of that run, which is offered below
            run = Run(budget, N, kind)
            out.append(_candidate(fit, run, fractions, cost_factor, min_params, floor))
    fitted = points[in_approach3_domain(points["N"], points["D"], floor)]
    residual = np.log(fitted["loss"]) - np.log(fit.predict(fitted["N"], fitted["D"]))
    run = fitted[RUN_ID] if RUN_ID in fitted.columns else fitted["id"]
    worst = residual.abs().groupby(run.to_numpy()).mean().sort_values(ascending=False)
    by_id = runs.set_index("run")
    for run_id in worst.index[:REPEATS]:
        r = by_id.loc[run_id]
        cand = Run(float(r[BUDGET]), float(r["N"]), "repeat", str(run_id))
        out.append(_candidate(fit, cand, fractions, cost_factor, min_params, floor))
    return [c for c in out if c is not None]


def _candidate(fit, run: Run, fractions, cost_factor, min_params, floor=None):
    N, D = run_points(fit, run.budget, run.N, fractions)
    ratio = D[-1] / N[-1]
    if run.N < min_params or not TOKENS_PER_PARAM[0] <= ratio <= TOKENS_PER_PARAM[1]:
        return None
    N, D = in_domain(N, D, floor)
    if not len(N):
        return None  # none of its points would be fitted
    jac = log_loss_jacobian(fit, N, D)
    return run, Candidate((run.budget, run.N, run.kind), jac, run.budget * cost_factor)


def noise(fit: ChinchillaFit, points: pd.DataFrame) -> float:
    """Scatter of log loss about the fit, per point, with the fit's 5 parameters counted."""
    residual = np.log(points["loss"]) - np.log(fit.predict(points["N"], points["D"]))
    dof = max(len(residual) - 5, 1)
    return float(np.sqrt(np.sum(residual**2) / dof))


def design_points(runs: list[tuple[str, float, np.ndarray, np.ndarray]], fit) -> pd.DataFrame:
    """The design check's points table (``analysis.checks.expected_precision``) of runs given as
    (run id, nominal budget, N per point, D per point): a point's nominal budget and C scale
    with its fraction of the run, as a cooldown point's do."""
    rows = []
    for run, budget, N, D in runs:
        for n, d in zip(N, D, strict=True):
            fraction = d / D.max()
            rows.append(
                {
                    "id": f"{run}@{fraction:g}",
                    RUN_ID: run,
                    "N": n,
                    "D": d,
                    "C": float(fit.compute.flops(n, d)),
                    BUDGET: budget * fraction,
                }
            )
    return pd.DataFrame(rows)


def expected_widths(
    fit: ChinchillaFit,
    sigma: float,
    points: pd.DataFrame,
    target: float,
    seconds: float,
    settings: SweepFitSettings | None = None,
) -> tuple[float, float, int]:
    """The design check's expected 95 % widths of Approach 3's predicted loss at ``target`` (a
    fraction) and of a, with the replicates it fitted: the widths the real fit would report
    (fitted as the sweep's ``settings`` say)."""
    prior = Prior(fit, "the sweep's own Approach-3 fit")
    exp = expected_precision(
        points, prior, sigma, f"C={target!r}", seconds=seconds, settings=settings
    )
    return exp.mean_width("chinchilla", "loss"), exp.mean_width("chinchilla", "a"), exp.reps


def propose(
    data: ScalingData,
    target: float,
    allowance: float,
    cost_factor: float = 1.0,
    seconds: float = 20.0,
    min_params: float = 0.0,
) -> Proposal:
    """The runs to buy within ``allowance`` FLOPs, with the expected widths before and after."""
    pts = data.points
    settings = SweepFitSettings.of_spec(data.spec)
    floor = settings.approach3_min_tokens_per_param
    fitted, _ = approach3_points(pts, floor)
    fit = fit_chinchilla(fitted["N"], fitted["D"], fitted["loss"], FitConfig())._replace(
        compute=data.compute
    )
    sigma = noise(fit, fitted)
    runs, fractions = sweep_runs(pts)
    run_of = pts[RUN_ID] if RUN_ID in pts.columns else pts["id"]
    old = [
        (
            str(r),
            b,
            pts.loc[run_of == r, "N"].to_numpy(float),
            pts.loc[run_of == r, "D"].to_numpy(float),
        )
        for r, b in zip(runs["run"], runs[BUDGET], strict=True)
    ]
    domains = [in_domain(N, D, floor) for _, _, N, D in old]
    info = sum(
        run_information(log_loss_jacobian(fit, N, D), sigma, SHARED) for N, D in domains if len(N)
    )
    g = target_gradient(fit, target)
    offered = candidates(fit, pts, target, fractions, cost_factor, min_params, floor)
    choice = choose(info, g, [c for _, c in offered], allowance, sigma, SHARED)
    by_key = {c.key: r for r, c in offered}
    picked = [by_key[c.key] for c in choice.picked]
    simulated = a_widths = None
    reps = (0, 0)
    if seconds > 0:
        new = [
            (f"new{i}", r.budget, *run_points(fit, r.budget, r.N, fractions))
            for i, r in enumerate(picked)
        ]
        before, after = design_points(old, fit), design_points(old + new, fit)
        loss0, a0, n0 = expected_widths(fit, sigma, before, target, seconds, settings)
        loss1, a1, n1 = expected_widths(fit, sigma, after, target, seconds, settings)
        simulated, a_widths, reps = (loss0, loss1), (a0, a1), (n0, n1)
    return Proposal(
        target,
        allowance,
        sigma,
        float(fit.loss_opt(target)),
        picked,
        choice.cost,
        (width(choice.variance_before), width(choice.variance_after)),
        simulated,
        a_widths,
        reps,
    )


def sweep_costs(folder: Path, slots: int, where: str | None = None) -> tuple[float, float, float]:
    """From a sweep folder's trials.csv (the rows ``where`` keeps): FLOPs per unit of nominal
    budget (cooldown branches cost extra), the sweep's training FLOPs, and the FLOPs it trained
    per second of wall time with ``slots`` trials side by side (each wall_s counts the
    slowdown)."""
    table = pd.read_csv(folder / TRIALS_FILE)
    if where:
        table = apply_where(table, where)
    done = table[table[STATUS] == FINISHED] if STATUS in table.columns else table
    flops = pd.to_numeric(done.get(FLOPS), errors="coerce")
    budget = pd.to_numeric(done.get(BUDGET), errors="coerce")
    wall = pd.to_numeric(done.get(WALL_S), errors="coerce")
    ratio = float((flops / budget).median()) if budget is not None else 1.0
    rate = float(flops.sum() / wall.sum() * slots) if wall is not None and wall.sum() > 0 else 0.0
    return (ratio if math.isfinite(ratio) else 1.0), float(flops.sum()), rate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="proposal", description="Propose the runs that most narrow a sweep's forecast."
    )
    p.add_argument("sweep", type=Path, help="a finished compute sweep folder")
    p.add_argument("--target", default="4x", help="C=<FLOPs> or <k>x the largest budget")
    p.add_argument("--where", help="rows to fit, e.g. \"stage == 'grid'\" (fit_scaling's syntax)")
    spend = p.add_mutually_exclusive_group()
    spend.add_argument("--flops", type=float, help="FLOPs to spend (default: the sweep's own)")
    spend.add_argument("--minutes", type=float, help="wall minutes to spend, at the sweep's rate")
    p.add_argument("--slots", type=int, default=1, help="trials the sweep ran side by side")
    p.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="time the design check may spend on each design (at least 2 replicates; 0: none)",
    )
    p.add_argument("--min-params", type=float, default=0.0, help="smallest size to propose")
    p.add_argument("--json", type=Path, help="write the proposal here")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; 0 with a proposal, 2 (one line on stderr) for unusable inputs."""
    from analysis.forecast.preregister import parse_target

    args = _parser().parse_args(argv)
    try:
        if args.seconds < 0 or args.slots < 1:
            raise ValueError("--seconds must be >= 0 and --slots >= 1")
        data = load_scaling_data(args.sweep, where=args.where)
        target = parse_target(args.target, data)
        cost_factor, spent, rate = sweep_costs(args.sweep, args.slots, args.where)
        if args.minutes is not None and not rate > 0:
            raise ValueError(f"--minutes: {args.sweep} records no wall times; use --flops")
        allowance = args.flops if args.flops is not None else spent
        if args.minutes is not None:
            allowance = args.minutes * 60.0 * rate
        if not (allowance and allowance > 0):
            raise ValueError("--flops/--minutes: must be positive")
        proposal = propose(data, target, allowance, cost_factor, args.seconds, args.min_params)
    except (ValueError, FileNotFoundError, KeyError) as err:
        text = " ".join(str(err).split()).replace("--forecast:", "--target:")
        print(f"proposal: error: {text}", file=sys.stderr)
        return 2
    out = {**proposal.to_json(), "cost_factor": cost_factor, "rate_flops_per_s": rate}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    lin, sim = proposal.linear, proposal.simulated
    print(
        f"{len(proposal.runs)} runs, {proposal.cost:.3g} FLOPs: predicted loss at "
        f"C={target:.3g} {proposal.loss:.4f}, 95 % width {lin[0]:.1%} -> {lin[1]:.1%} "
        "(linearised)"
        + (f", {sim[0]:.1%} -> {sim[1]:.1%} (design check)" if sim is not None else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
