"""What a compute sweep's design can earn, before it runs: its expected precision and warnings.

A design is the list of points the analysis will fit (each run's end and each cooldown branch,
at its own N, D, C and nominal budget). Losses are drawn at those points from a prior law
L(N, D) = E + A/N^alpha + B/D^beta with run-correlated log-normal noise at the measured
run-to-run level, and the real analysis (``run_analysis``) fits each replicate with its
bootstrap. The mean 95 % widths over the replicates are what the design is expected to give
(a, b and the predicted loss at the forecast target), and the warnings that come up in them are
what to expect of the real fit. Because the truth is known, a warning that shows up here is a
property of the design, not of the data: repeating the runs would not remove it.

    points = read_points("design.csv")           # id, run_id, N, D, C, budget
    exp = expected_precision(points, SHIPPED_PRIOR, sigma=0.015, target="4x")
    print("\\n".join(render(exp)))

``python -m sweeps.run SWEEP.yaml --dry-run`` prints this for every compute sweep (the planner
writes the points; ``sweeps`` runs this module as a subprocess, never importing it), and
``bench/design_check.py`` runs it with more replicates.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.config import AnalysisConfig
from analysis.fit.bootstrap import BootstrapConfig
from analysis.fit_all import run_analysis
from analysis.forecast.preregister import parse_target
from analysis.laws.forms import ChinchillaFit, ComputeModel
from analysis.load.sweep_tables import ScalingData, load_scaling_data
from analysis.outcome import Analysis
from contract.fit_settings import SweepFitSettings
from contract.metrics import EVAL_LOSS, FLOPS, PARAMS, TOKENS
from contract.results import BUDGET, RUN_ID

POINT_COLUMNS = ("id", RUN_ID, "N", "D", "C", BUDGET)
"""The columns of a design's points table."""
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?x?")


@dataclass(frozen=True)
class Prior:
    """The law losses are drawn from, and where it came from (printed beside the widths)."""

    law: ChinchillaFit
    name: str


SHIPPED_PRIOR = Prior(
    ChinchillaFit(E=0.7674, A=22.4, B=659.6, alpha=0.3838, beta=0.517),
    "the main job's own fit (sweeps/scaling.yaml, Approach 3 on its 58 points at 10+ tokens per "
    "parameter, Python stdlib bytes, WSD): E=0.7674 A=22.4 alpha=0.3838 B=659.6 beta=0.517",
)
"""Shipped with the project so a dry-run needs no finished sweep."""

PREFIX_EVAL_LAW = ChinchillaFit(E=0.82, A=42.8, B=315.5, alpha=0.4665, beta=0.4543)
"""The main job's Approach-3 fit (72 points) when evaluation scored the held-out split's first
tokens: the known law the bench figures in the docs (the gate, adaptive budgets) were measured
with, kept so those commands still reproduce them."""

SEED_NOISE = ((16_384, 0.01046), (262_144, 0.01024))
"""Measured seed-to-seed noise of the main job's final loss: eight seeds of one trial
(gpt-n19.2k at 2.5e11 FLOPs), relative standard deviation, by evaluation tokens (windows spread
over the held-out split; training itself is nearly all of it)."""
SHAPE_SCATTER = 0.01075
"""Scatter of the main job's runs about its own Approach-3 fit beyond the seeds' share: 1.50 %
in all at its 16,384 evaluation tokens (runs of neighbouring sizes differ in shape and learning
rate fit, which no law of N and D describes), so sqrt(1.50 %^2 - 1.046 %^2)."""
SHARED = 0.8
"""Share of a point's noise common to every point of its run (a run's branch and end points
move together, as measured on the main job)."""


def seed_noise(eval_tokens: int) -> float:
    """Seed-to-seed noise at ``eval_tokens`` evaluation tokens: sigma^2 = s^2 + c / tokens
    through the two measurements (a floor from training itself, plus the evaluation sample's
    share)."""
    (t0, s0), (t1, s1) = SEED_NOISE
    c = (s0**2 - s1**2) / (1 / t0 - 1 / t1)
    floor = s1**2 - c / t1
    return math.sqrt(floor + c / max(1, eval_tokens))


def run_noise(eval_tokens: int) -> float:
    """A run's noise about the law, what a design is simulated at: seeds and shapes together."""
    return math.hypot(seed_noise(eval_tokens), SHAPE_SCATTER)


def prior_from_sweep(folder: str | Path) -> Prior:
    """Approach 3's point estimate on a finished sweep folder (no bootstrap: only the law)."""
    if not Path(folder).is_dir():
        raise ValueError(f"--prior: {folder}: no such sweep folder")
    data = load_scaling_data(folder)
    cfg = AnalysisConfig(laws=("chinchilla",), bootstrap=BootstrapConfig(n_resamples=0))
    cfg = cfg.with_sweep_settings(SweepFitSettings.of_spec(data.spec))
    result = run_analysis(data, cfg).results.get("chinchilla")
    if result is None or not isinstance(result.fit, ChinchillaFit):
        raise ValueError(f"--prior: {folder}: Approach 3 cannot be fitted to its runs")
    fit = result.fit
    law = " ".join(f"{k}={v:.4g}" for k, v in fit.params.items())
    return Prior(fit, f"the fit of {folder} (Approach 3 on {len(data.points)} points): {law}")


def read_points(path: str | Path) -> pd.DataFrame:
    """A design's points (CSV with POINT_COLUMNS; ``-`` reads standard input)."""
    frame = pd.read_csv(sys.stdin if str(path) == "-" else path)
    missing = [c for c in POINT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: design points need columns {', '.join(missing)}")
    frame[RUN_ID] = frame[RUN_ID].astype(str)
    return frame


def synthetic(
    points: pd.DataFrame, law: ChinchillaFit, sigma: float, seed: int, shared: float = SHARED
) -> ScalingData:
    """The design's points with losses from ``law`` times exp(run noise + point noise)."""
    rng = np.random.default_rng(seed)
    runs = points[RUN_ID].unique()
    per_run = dict(zip(runs, rng.normal(0.0, sigma * np.sqrt(shared), len(runs)), strict=True))
    noise = points[RUN_ID].map(per_run) + rng.normal(0.0, sigma * np.sqrt(1 - shared), len(points))
    table = points.assign(loss=law.predict(points["N"], points["D"]) * np.exp(noise))
    compute = ComputeModel.estimate(*(table[c].to_numpy(float) for c in ("N", "D", "C")))
    columns = {"N": PARAMS, "D": TOKENS, "C": FLOPS, "loss": EVAL_LOSS}
    return ScalingData(
        table.reset_index(drop=True),
        pd.DataFrame(columns=["id", "reason"]),
        None,
        "design",
        columns=columns,
        compute=compute,
    )


@dataclass
class Expected:
    """Widths and warnings over the replicates of one design."""

    prior: Prior
    sigma: float
    target: float
    widths: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    """(law, quantity) -> 95 % width per replicate (a, b: absolute; loss: relative)."""
    warnings: Counter[str] = field(default_factory=Counter)
    """A warning without its numbers -> replicates it came up in."""
    reps: int = 0
    seconds: float = 0.0
    truth: dict[str, float] = field(default_factory=dict)
    """The prior law's own a, b, N*, D* and loss at the target, under the design's C(N, D)."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Law -> why the analysis did not fit it to this design (from the last replicate)."""
    approach3_floor: float | None = None
    """The sweep's ``approach3_min_tokens_per_param``, which every replicate's fit used."""

    def mean_width(self, law: str, quantity: str) -> float:
        values = self.widths.get((law, quantity), [])
        return float(np.mean(values)) if values else math.nan


def _record(exp: Expected, result: Analysis) -> None:
    """Add one replicate's widths and warnings."""
    for name, res in result.results.items():
        for q in ("a", "b"):
            e = res.estimates.get(q)
            if e is not None and math.isfinite(e.hi - e.lo):
                exp.widths.setdefault((name, q), []).append(e.hi - e.lo)
        for p in res.predictions:
            if p.quantity in ("loss", "loss_opt") and set(p.inputs) == {"C"}:
                if math.isclose(p.inputs["C"], exp.target, rel_tol=1e-6):
                    e = p.estimate
                    if math.isfinite(e.hi - e.lo) and e.value > 0:
                        exp.widths.setdefault((name, "loss"), []).append((e.hi - e.lo) / e.value)
    for kind in dict.fromkeys(warning_kind(w) for w in result.warnings):
        exp.warnings[kind] += 1
    exp.skipped = dict(result.skipped)


def expected_precision(
    points: pd.DataFrame,
    prior: Prior,
    sigma: float,
    target: str = "4x",
    seconds: float = 20.0,
    min_reps: int = 2,
    max_reps: int = 8,
    resamples: int = 60,
    on_replicate: Callable[[int, Analysis], None] | None = None,
    shared: float = SHARED,
    settings: SweepFitSettings | None = None,
) -> Expected:
    """Fit noisy replicates of the design until ``seconds`` are spent (at least ``min_reps``),
    each as the sweep's own fit will be (``settings``: its `analysis:` section);
    ``on_replicate(rep, analysis)`` sees each replicate's full analysis."""
    first = synthetic(points, prior.law, sigma, 0, shared)
    target_c = parse_target(target, first)
    cfg = AnalysisConfig(
        predict=({"C": target_c},), bootstrap=BootstrapConfig(n_resamples=resamples)
    ).with_sweep_settings(settings or SweepFitSettings())
    exp = Expected(prior, sigma, target_c, truth=_truth(prior.law, first.compute, target_c))
    exp.approach3_floor = cfg.approach3_min_tokens_per_param
    started = time.perf_counter()
    for rep in range(max_reps):
        data = first if rep == 0 else synthetic(points, prior.law, sigma, rep, shared)
        result = run_analysis(data, cfg)
        _record(exp, result)
        if on_replicate is not None:
            on_replicate(rep, result)
        exp.reps += 1
        spent = time.perf_counter() - started
        if exp.reps >= min_reps and spent * (exp.reps + 1) / exp.reps > seconds:
            break
    exp.seconds = time.perf_counter() - started
    return exp


def _truth(law: ChinchillaFit, compute: ComputeModel, target: float) -> dict[str, float]:
    law = law._replace(compute=compute)
    return {
        "a": law.a,
        "b": law.b,
        "n_star": float(law.n_opt(target)),
        "d_star": float(law.d_opt(target)),
        "loss": float(law.loss_opt(target)),
    }


def to_json(exp: Expected) -> dict:
    """What the dry-run reads: the rendered lines, the target and the prior's N* and D*."""
    widths = {f"{law}.{q}": exp.mean_width(law, q) for law, q in exp.widths}
    return {
        "lines": render(exp),
        "target": exp.target,
        "truth": exp.truth,
        "widths": widths,
        "warnings": dict(exp.warnings),
        "reps": exp.reps,
        "sigma": exp.sigma,
        "prior": exp.prior.name,
    }


def warning_kind(warning: str) -> str:
    """A warning with its numbers replaced by #, so replicates' warnings count together."""
    text = _NUMBER.sub("#", warning)
    return text if len(text) <= 110 else text[:107] + "..."


def render(exp: Expected) -> list[str]:
    """The dry-run's lines: prior, noise, expected widths, expected warnings."""
    lines = [
        f"expected precision at the forecast target C={exp.target:.3g} ({exp.reps} simulated "
        f"replicates, {exp.seconds:.0f} s): prior {exp.prior.name}; noise {exp.sigma:.2%} per "
        "run (measured about the main job's fit)",
    ]
    t = exp.truth
    if t:
        lines.append(
            f"  the prior law itself: a {t['a']:.3f}, b {t['b']:.3f}; at the target N* "
            f"{t['n_star']:.3g}, D* {t['d_star']:.3g} tokens, loss {t['loss']:.4f}"
        )
    laws = dict.fromkeys(law for law, _ in exp.widths)
    for law in laws:
        parts = []
        for q in ("a", "b"):
            w = exp.mean_width(law, q)
            if math.isfinite(w):
                parts.append(f"{q} {w:.3f} wide")
        w = exp.mean_width(law, "loss")
        if math.isfinite(w):
            parts.append(f"loss at target {w:.1%} wide")
        if parts:
            floor = exp.approach3_floor if law == "chinchilla" else None
            label = f"{law} (its points at {floor:g}+ tokens per parameter)" if floor else law
            lines.append(f"  {label}: " + ", ".join(parts))
    if not exp.widths:
        why = "; ".join(f"{k}: {v}" for k, v in exp.skipped.items()) or "no interval"
        lines.append(f"  no law gives an interval on this design ({why[:200]})")
    if exp.warnings:
        lines.append("warnings to expect (replicates showing each):")
        lines += [f"  {n}/{exp.reps}  {kind}" for kind, n in exp.warnings.most_common()]
    elif not exp.widths:  # nothing was fitted, so nothing could warn: not a clean bill
        lines.append("warnings to expect: none, because no law is fitted (above)")
    else:
        lines.append(f"warnings to expect: none in {exp.reps} replicates")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m analysis.checks.expected_precision", description=__doc__.splitlines()[0]
    )
    p.add_argument("points", help="CSV of the design's points (id, run_id, N, D, C, budget); -")
    p.add_argument("--target", default="4x", help="forecast target: <k>x or C=<FLOPs>")
    p.add_argument("--prior", help="finished sweep folder whose fit is the prior law")
    p.add_argument("--noise", type=float, help="run-to-run noise (fraction; default: measured)")
    p.add_argument("--eval-tokens", type=int, default=16_384, help="evaluation tokens per point")
    p.add_argument("--seconds", type=float, default=20.0, help="time to spend on replicates")
    p.add_argument("--reps", type=int, default=2, help="replicates at least")
    p.add_argument("--resamples", type=int, default=60, help="bootstrap resamples per replicate")
    p.add_argument(
        "--approach3-min-tokens-per-param",
        type=float,
        metavar="X",
        help="fit Approach 3 only to points at X+ tokens per parameter, as the sweep will",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = p.parse_args(argv)
    try:
        floor = args.approach3_min_tokens_per_param
        if floor is not None and not floor >= 0:
            raise ValueError(f"--approach3-min-tokens-per-param must be >= 0, got {floor}")
        prior = prior_from_sweep(args.prior) if args.prior else SHIPPED_PRIOR
        sigma = args.noise if args.noise is not None else run_noise(args.eval_tokens)
        if not 0 <= sigma < 1:
            raise ValueError(f"--noise: expected a fraction in [0, 1), got {sigma:g}")
        exp = expected_precision(
            read_points(args.points),
            prior,
            sigma,
            args.target,
            seconds=args.seconds,
            min_reps=args.reps,
            max_reps=max(args.reps, 8),
            resamples=args.resamples,
            settings=SweepFitSettings(approach3_min_tokens_per_param=floor),
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"design: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(json.dumps(to_json(exp)) if args.json else "\n".join(render(exp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
