"""Would this sweep's design earn a trusted fit? Synthetic losses at its planned points, fitted.

A thin wrapper over the product's design check (``analysis.checks.expected_precision``, which
``python -m sweeps.run SWEEP.yaml --dry-run`` runs for every compute sweep): it plans a sweep
YAML as the dry-run does (a pipeline's first compute stage), draws losses at every point the
analysis will see from a known law with run-correlated noise, and runs the real analysis on
them, with as many replicates and noise levels as asked. It prints each replicate's warning
count and exponents a, then the expected 95 % widths and how often each warning came up.

    python bench/design_check.py sweeps/scaling.yaml                       # sigma 0 and 1 %
    python bench/design_check.py sweeps/scaling.yaml --sigma 0.005 --reps 5 -v
    python bench/design_check.py sweeps/scaling.yaml --set 'optim.cooldowns=[0.25, 0.5, 1.0]'

The default law is the one shipped with the project (the main job's own Approach-3 fit); pass
--law E A alpha B beta for another.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.checks.expected_precision import SHIPPED_PRIOR, Prior, expected_precision, render  # noqa: E402
from analysis.checks.expected_precision import synthetic as _synthetic  # noqa: E402
from analysis.laws.forms import ChinchillaFit  # noqa: E402
from analysis.load.sweep_tables import ScalingData  # noqa: E402
from contract.results import BUDGET, RUN_ID  # noqa: E402
from sweeps.errors import SpecError  # noqa: E402
from sweeps.plan import precision  # noqa: E402
from sweeps.plan.trials import make_plan  # noqa: E402
from sweeps.spec.sweep_spec import read_with_overrides, spec_from_dict  # noqa: E402
from sweeps.stages.pipeline import is_pipeline, pipeline_from_raw  # noqa: E402

MAIN_JOB_LAW = tuple(SHIPPED_PRIOR.law.params[k] for k in ("E", "A", "alpha", "B", "beta"))
"""E, A, alpha, B, beta of the shipped prior (Approach 3 on the main job's points at 10+ tokens
per parameter); ``--law`` takes another, e.g. the earlier fit the README's tables used."""


def design_points(yaml: str, overrides: list[str]) -> pd.DataFrame:
    """One row per point the analysis will fit: id, run_id, N, D, C, budget."""
    raw = read_with_overrides(yaml, overrides)
    if is_pipeline(raw):
        stages = pipeline_from_raw(raw, source=yaml).stages
        spec = next((s.spec for s in stages if s.spec.compute is not None), stages[0].spec)
    else:
        spec = spec_from_dict(raw, source=yaml)
    try:
        return pd.DataFrame(precision.design_points(make_plan(spec)))
    except SpecError as err:
        raise SystemExit(str(err)) from None


def synthetic(
    points: pd.DataFrame, law: ChinchillaFit, sigma: float, shared: float, seed: int
) -> ScalingData:
    """The design's points with losses from `law` times exp(run noise + point noise)."""
    return _synthetic(points, law, sigma, seed, shared)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("yaml", help="sweep YAML with a compute: section (or a compute stage)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides")
    p.add_argument("--law", type=float, nargs=5, metavar=("E", "A", "ALPHA", "B", "BETA"))
    p.add_argument("--sigma", type=float, nargs="+", default=[0.0, 0.01], help="noise (fraction)")
    p.add_argument("--shared", type=float, default=0.8, help="share of the noise common to a run")
    p.add_argument("--reps", type=int, default=3, help="replicates per noise level")
    p.add_argument("--resamples", type=int, default=300, help="bootstrap resamples per fit")
    p.add_argument("--target", default="4x", help="forecast target: <k>x or C=<FLOPs>")
    p.add_argument("-v", "--verbose", action="store_true", help="print every warning")
    args = p.parse_args(argv)
    prior = SHIPPED_PRIOR
    if args.law:
        E, A, alpha, B, beta = args.law
        law = ChinchillaFit(E=E, A=A, B=B, alpha=alpha, beta=beta)
        prior = Prior(law, f"E={E:g} A={A:g} alpha={alpha:g} B={B:g} beta={beta:g}")
    points = design_points(args.yaml, args.overrides)
    print(
        f"{args.yaml}: {points[RUN_ID].nunique()} runs, {len(points)} points, nominal budgets "
        f"{points[BUDGET].min():.3g}-{points[BUDGET].max():.3g}; law {prior.name}"
    )
    for sigma in args.sigma:
        reps = 1 if sigma == 0 else args.reps
        counts: list[int] = []

        def show(rep: int, result, sigma: float = sigma, counts: list[int] = counts) -> None:
            counts.append(len(result.warnings))
            a = " ".join(
                f"{name}={res.estimates['a'].value:.3f}"
                for name, res in result.results.items()
                if "a" in res.estimates
            )
            print(f"  sigma {sigma:.2%} rep {rep}: {len(result.warnings)} warnings; a: {a}")
            for w in result.warnings if args.verbose else ():
                print(f"      {w}")

        exp = expected_precision(
            points,
            prior,
            sigma,
            args.target,
            seconds=math.inf,
            min_reps=reps,
            max_reps=reps,
            resamples=args.resamples,
            on_replicate=show,
            shared=args.shared,
        )
        print(f"sigma {sigma:.2%}: warnings per replicate {counts}")
        print("\n".join(f"    {line}" for line in render(exp)[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
