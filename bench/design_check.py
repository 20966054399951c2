"""Would this sweep's design earn a trusted fit? Synthetic losses at its planned points, fitted.

Plans a sweep YAML as the dry-run does (no Ray, no training), takes every point the analysis
will see (each trial's end and each cooldown branch, at its own N, D, C and nominal budget),
draws losses from a known law L(N, D) = E + A/N^alpha + B/D^beta with run-correlated
log-normal noise, and runs the product's analysis on them, several replicates per noise level.
It prints each replicate's trust verdict, the exponents a of every approach, and the warnings,
then how often each kind of warning came up. Because the truth is known, a warning that shows
up with noise-free losses is a property of the design (or of an estimator on it), not of the
data: no amount of repeating the runs would remove it.

    python bench/design_check.py sweeps/scaling.yaml                       # sigma 0 and 1 %
    python bench/design_check.py sweeps/scaling.yaml --sigma 0.005 --reps 5 -v
    python bench/design_check.py sweeps/scaling.yaml --set 'optim.cooldowns=[0.25, 0.5, 1.0]'

The default law is the one the main job's own fit found (Approach 3 on its 72 points); pass
--law E A alpha B beta for another. Noise is per point, a share --shared of it common to the
points of one run (a run's branch and end points move together, as measured on the main job).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.fit.bootstrap import BootstrapConfig  # noqa: E402
from analysis.fit_all import AnalysisConfig, run_analysis  # noqa: E402
from analysis.laws.forms import ChinchillaFit, ComputeModel  # noqa: E402
from analysis.load.sweep_tables import ScalingData  # noqa: E402
from contract.results import BUDGET, RUN_ID  # noqa: E402
from sweeps.plan.trials import make_plan  # noqa: E402
from sweeps.spec.sweep_spec import load_spec  # noqa: E402

MAIN_JOB_LAW = (0.82, 42.8, 0.4665, 315.5, 0.4543)
"""E, A, alpha, B, beta of Approach 3 on the main job's 72 points (stdlib bytes, WSD)."""


def design_points(yaml: str, overrides: list[str]) -> pd.DataFrame:
    """One row per point the analysis will fit: id, run_id, N, D, C, budget."""
    spec = load_spec(yaml, overrides)
    plan = make_plan(spec)
    rows = []
    for trial in plan.trials:
        if BUDGET not in trial.assignment:
            raise SystemExit(f"{yaml}: no compute: section; this check plans compute-budget sweeps")
        fractions = trial.config.optim.cooldowns or [1.0]
        for f in fractions:
            rows.append(
                {
                    "id": f"{trial.trial_id}@{f:g}",
                    RUN_ID: trial.trial_id,
                    "N": float(trial.params),
                    "D": trial.tokens * f,
                    "C": trial.flops * f,
                    BUDGET: trial.assignment[BUDGET] * f,
                }
            )
    return pd.DataFrame(rows)


def synthetic(
    points: pd.DataFrame, law: ChinchillaFit, sigma: float, shared: float, seed: int
) -> ScalingData:
    """The design's points with losses from `law` times exp(run noise + point noise)."""
    rng = np.random.default_rng(seed)
    runs = points[RUN_ID].unique()
    per_run = dict(zip(runs, rng.normal(0.0, sigma * np.sqrt(shared), len(runs)), strict=True))
    noise = points[RUN_ID].map(per_run) + rng.normal(0.0, sigma * np.sqrt(1 - shared), len(points))
    table = points.assign(loss=law.predict(points["N"], points["D"]) * np.exp(noise))
    compute = ComputeModel.estimate(*(table[c].to_numpy(float) for c in ("N", "D", "C")))
    columns = {"N": "params", "D": "tokens", "C": "flops", "loss": "eval/loss"}
    return ScalingData(
        table,
        pd.DataFrame(columns=["id", "reason"]),
        None,
        "synthetic",
        columns=columns,
        compute=compute,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("yaml", help="sweep YAML with a compute: section")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    p.add_argument("--law", type=float, nargs=5, metavar=("E", "A", "ALPHA", "B", "BETA"))
    p.add_argument("--sigma", type=float, nargs="+", default=[0.0, 0.01], help="noise (fraction)")
    p.add_argument("--shared", type=float, default=0.8, help="share of the noise common to a run")
    p.add_argument("--reps", type=int, default=3, help="replicates per noise level")
    p.add_argument("--resamples", type=int, default=300, help="bootstrap resamples per fit")
    p.add_argument("--fit", nargs="+", metavar="LAW", help="laws to fit (default: all it supports)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every warning")
    args = p.parse_args(argv)
    E, A, alpha, B, beta = args.law or MAIN_JOB_LAW
    law = ChinchillaFit(E=E, A=A, B=B, alpha=alpha, beta=beta)
    points = design_points(args.yaml, args.overrides)
    print(
        f"{args.yaml}: {points[RUN_ID].nunique()} runs, {len(points)} points, nominal budgets "
        f"{points[BUDGET].min():.3g}-{points[BUDGET].max():.3g}; law E={E:g} A={A:g} "
        f"alpha={alpha:g} B={B:g} beta={beta:g}"
    )
    cfg = AnalysisConfig(
        laws=tuple(args.fit) if args.fit else None,
        bootstrap=BootstrapConfig(n_resamples=args.resamples),
    )
    for sigma in args.sigma:
        kinds: Counter[str] = Counter()
        counts = []
        reps = 1 if sigma == 0 else args.reps
        for rep in range(reps):
            result = run_analysis(synthetic(points, law, sigma, args.shared, rep), cfg)
            counts.append(len(result.warnings))
            a = " ".join(
                f"{name}={res.estimates['a'].value:.3f}"
                for name, res in result.results.items()
                if "a" in res.estimates
            )
            print(f"  sigma {sigma:.2%} rep {rep}: {len(result.warnings)} warnings; a: {a}")
            for w in result.warnings:
                kinds[w.split(":")[0] + ": " + _kind(w)] += 1
                if args.verbose:
                    print(f"      {w}")
        print(f"sigma {sigma:.2%}: warnings per replicate {counts}")
        for kind, n in kinds.most_common():
            print(f"    {n}/{reps}  {kind}")
    return 0


def _kind(warning: str) -> str:
    """A warning without its numbers, so replicates' warnings can be counted together."""
    text = warning.split(":", 1)[1] if ":" in warning else warning
    words = [w for w in text.split() if not any(ch.isdigit() for ch in w)]
    return " ".join(words[:6])


if __name__ == "__main__":
    raise SystemExit(main())
