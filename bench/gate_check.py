"""Does the trust gate tell good fits from bad? Replicates of known laws through the real analysis.

Good cases: the main job's design (every planned run end and cooldown branch, at its own N, D,
C and nominal budget) with losses from a known law (the main job's earlier fit) at 1 % and
1.5 % run-to-run noise; the verdict should be OK in at least 90 % of replicates and the forecast's 95 % interval for
the loss at 4x the largest budget should cover the law's true optimum in 90-98 % of them.
Cases that must fail, each for its own reason: a loss whose exponent in N changes part-way
along the sizes (a law the fit cannot model), budgets spanning half a decade, a floor the runs
sit far above (not pinned), a forecast at 100x.

    python bench/gate_check.py                            # 20 replicates per good case, 10 bad
    python bench/gate_check.py --reps 20 --bad-reps 10 --resamples 60 --jobs 2   # the defaults
    python bench/gate_check.py --cases good-1% hundred-x -v
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.checks.expected_precision import PREFIX_EVAL_LAW, synthetic, warning_kind  # noqa: E402
from analysis.fit.bootstrap import BootstrapConfig  # noqa: E402
from analysis.fit_all import AnalysisConfig, run_analysis  # noqa: E402
from contract.fit_settings import SweepFitSettings  # noqa: E402
from contract.results import BUDGET, RUN_ID  # noqa: E402

LAW = PREFIX_EVAL_LAW
"""The known law every replicate is drawn from (the one docs/analysis.md's figures used)."""


class Case(NamedTuple):
    name: str
    sigma: float
    factor: float
    """Forecast target as a multiple of the largest nominal budget."""
    expect: tuple[str, ...]
    """Texts one of which a CAUTION for this case's own reason contains (none: a good case)."""


CASES = {
    "good-1%": Case("good-1%", 0.01, 4.0, ()),
    "good-1.5%": Case("good-1.5%", 0.015, 4.0, ()),
    "kink": Case("kink", 0.01, 4.0, ("backtest", "residuals curve")),
    "plateau": Case("plateau", 0.01, 4.0, ("backtest", "residuals curve")),
    "half-decade": Case("half-decade", 0.01, 4.0, ("budgets span only",)),
    "floor": Case("floor", 0.01, 4.0, ("E is not identified",)),
    "hundred-x": Case("hundred-x", 0.01, 100.0, ("decades beyond the largest run",)),
}
KINKS = {"kink": 0.5, "plateau": 0.0}
"""The N exponent's share over the largest quarter of the design's sizes: halved (a misfit of
0.34 % rms that Approach 3, its floor free, cannot fit; a third of the noise), or none at all
(the N term stops falling: 0.83 % rms)."""


SETTINGS = SweepFitSettings.model_validate(
    yaml.safe_load((ROOT / "sweeps/scaling.yaml").read_text()).get("analysis") or {}
)
"""The main job's own fit settings (its `analysis:` section): each replicate is fitted as its
results are."""


def design_points() -> pd.DataFrame:
    """The main job's planned points (see bench/design_check.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("design_check", ROOT / "bench/design_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.design_points(str(ROOT / "sweeps/scaling.yaml"), [])


def _kinked(points: pd.DataFrame, sigma: float, seed: int, share: float):
    """Losses whose N exponent drops to ``share`` of the law's over the largest quarter of the
    design's sizes (in log N): a law the fit cannot model, whose optima still mostly sit inside
    the planned sizes."""
    data = synthetic(points, LAW, sigma, seed)
    N, D = points["N"].to_numpy(float), points["D"].to_numpy(float)
    nk = float(np.exp(np.quantile(np.log(N), 0.75)))
    a1, a2 = LAW.alpha, LAW.alpha * share
    term = np.where(N < nk, N**-a1, nk**-a1 * (N / nk) ** -a2)
    clean = LAW.E + LAW.A * term + LAW.B * D**-LAW.beta
    noise = data.points["loss"].to_numpy(float) / LAW.predict(N, D)
    return dataclasses.replace(data, points=data.points.assign(loss=clean * noise))


def case_data(case: Case, points: pd.DataFrame, seed: int):
    """(data, true loss at the target or NaN) of one replicate of ``case``."""
    law = LAW
    if case.name == "half-decade":  # runs ending at the two largest budgets, and their branches
        ends = points[points[BUDGET] >= points[BUDGET].max() / 2]
        points = points[points[RUN_ID].isin(ends[RUN_ID])]
    if case.name == "floor":  # the same losses' shape, its floor a twentieth of the data's
        scale = (LAW.predict(points["N"], points["D"]) - LAW.E * 0.05) / (
            LAW.predict(points["N"], points["D"]) - LAW.E
        )
        k = float(np.median(scale))
        law = LAW._replace(E=LAW.E * 0.05, A=LAW.A * k, B=LAW.B * k)
    data = (
        _kinked(points, case.sigma, seed, KINKS[case.name])
        if case.name in KINKS
        else synthetic(points, law, case.sigma, seed)
    )
    target = float(points[BUDGET].max()) * case.factor
    truth = float(law._replace(compute=data.compute).loss_opt(target))
    return data, target, truth


class Replicate(NamedTuple):
    case: str
    seed: int
    trusted: bool
    warnings: tuple[str, ...]
    loss_law: str
    predicted: float
    lo95: float
    hi95: float
    truth: float


def replicate(args: tuple) -> Replicate:
    case, points, seed, resamples = args
    data, target, truth = case_data(case, points, seed)
    boot = BootstrapConfig(n_resamples=resamples, seed=seed, workers=1)
    cfg = AnalysisConfig(predict=({"C": target},), bootstrap=boot).with_sweep_settings(SETTINGS)
    result = run_analysis(data, cfg)
    loss = next((r for r in result.precision if r.quantity == "loss"), None)
    nan = math.nan
    return Replicate(
        case.name,
        seed,
        result.trusted,
        result.warnings,
        loss.law if loss else "",
        loss.value if loss else nan,
        loss.lo if loss else nan,
        loss.hi if loss else nan,
        truth,
    )


def summary(case: Case, reps: list[Replicate]) -> list[str]:
    n = len(reps)
    ok = sum(r.trusted for r in reps)
    lines = [f"{case.name} (noise {case.sigma:.1%}, forecast at {case.factor:g}x): {n} replicates"]
    if not case.expect:
        inside = [r.lo95 <= r.truth <= r.hi95 for r in reps if math.isfinite(r.lo95)]
        errors = [abs(r.predicted / r.truth - 1) for r in reps]
        widths = [(r.hi95 - r.lo95) / r.predicted for r in reps]
        laws = Counter(r.loss_law for r in reps)
        lines.append(
            f"  verdict OK in {ok}/{n} ({ok / n:.0%}); 95 % interval at {case.factor:g}x covers "
            f"the true loss in {sum(inside)}/{len(inside)} ({np.mean(inside):.0%}); mean |error| "
            f"{np.mean(errors):.2%}, mean width {np.mean(widths):.1%}; loss from "
            + ", ".join(f"{k} {v}" for k, v in laws.most_common())
        )
    else:
        own = sum(
            (not r.trusted) and any(e in w for e in case.expect for w in r.warnings) for r in reps
        )
        lines.append(
            f"  CAUTION in {n - ok}/{n} ({(n - ok) / n:.0%}); for its own reason "
            f"({' or '.join(map(repr, case.expect))}) in {own}/{n} ({own / n:.0%})"
        )
    kinds = Counter(k for r in reps for k in dict.fromkeys(map(warning_kind, r.warnings)))
    lines += [f"    {v}/{n}  {k}" for k, v in kinds.most_common(8)]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    p.add_argument("--reps", type=int, default=20, help="replicates per good case")
    p.add_argument("--bad-reps", type=int, default=10, help="replicates per must-fail case")
    p.add_argument("--resamples", type=int, default=60, help="bootstrap resamples per fit")
    p.add_argument("--jobs", type=int, default=2, help="replicates fitted side by side")
    p.add_argument("-v", "--verbose", action="store_true", help="print every replicate")
    args = p.parse_args(argv)
    points = design_points()
    print(
        f"main job design: {points[RUN_ID].nunique()} runs, {len(points)} points, budgets "
        f"{points[BUDGET].min():.3g}-{points[BUDGET].max():.3g}; law E={LAW.E:g} A={LAW.A:g} "
        f"alpha={LAW.alpha:g} B={LAW.B:g} beta={LAW.beta:g}",
        flush=True,
    )
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for name in args.cases:
            case = CASES[name]
            n = args.bad_reps if case.expect else args.reps
            jobs = [(case, points, seed, args.resamples) for seed in range(n)]
            reps = list(pool.map(replicate, jobs))
            if args.verbose:
                for r in reps:
                    print(f"  seed {r.seed}: {'OK' if r.trusted else 'CAUTION'} {r.warnings}")
            print("\n".join(summary(case, reps)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
