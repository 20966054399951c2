"""Adaptive budgets against the fixed grid, on simulated losses: where sizes land, what the fit earns.

Plans a compute sweep (a pipeline's compute stage) twice, as written and with
`compute.recentre: true`, and draws every run's points (its end and its cooldown points) from a
known law L(N, D) = E + A/N^alpha + B/D^beta with run-correlated log-normal noise. The adaptive
design goes budget by budget through the product's own placement (`sweeps.plan.recentre`, whose
fits are the real `analysis/fit_scaling.py`); the fixed one is the initial plan. Both are then
fitted by Approach 3 with 200 bootstrap resamples, and printed side by side: per budget, how far
the centre of its sizes sits from the law's N* (decades) and whether N* is inside them, then the
95 % widths of a and of the predicted loss at the target.

    python bench/adaptive_budgets.py sweeps/scaling.yaml                      # as planned
    python bench/adaptive_budgets.py sweeps/scaling.yaml --tokens-per-param 3 45   # off-centre

The default law is the main job's own fit (Approach 3 on its 72 points).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.checks.expected_precision import PREFIX_EVAL_LAW  # noqa: E402
from analysis.laws.forms import ChinchillaFit, ComputeModel  # noqa: E402
from contract.metrics import BRANCH_FLOPS, BRANCH_FRACTION, BRANCH_TOKENS  # noqa: E402
from contract.results import BUDGET, CURVES_FILE, SPEC_FILE, TRIALS_FILE  # noqa: E402
from sweeps.plan import recentre  # noqa: E402
from sweeps.plan.trials import make_plan  # noqa: E402
from sweeps.spec.sweep_spec import read_with_overrides, spec_from_dict  # noqa: E402
from sweeps.stages.pipeline import is_pipeline, pipeline_from_raw  # noqa: E402

MAIN_JOB_LAW = PREFIX_EVAL_LAW


class SimulatedTables:
    """What the runner's tables hold, filled by drawing each planned run's losses."""

    def __init__(self, folder: Path, law: ChinchillaFit, sigma: float, seed: int) -> None:
        self.folder, self.law, self.sigma = folder, law, sigma
        self.rng = np.random.default_rng(seed)
        self.trials: dict[str, dict] = {}
        self.curves: list[dict] = []

    def run(self, trials) -> None:
        for t in trials:
            if t.trial_id in self.trials:
                continue
            shared = self.rng.normal(0.0, self.sigma * math.sqrt(0.8))
            loss = math.nan
            for f in t.config.optim.cooldowns or [1.0]:
                own = self.rng.normal(0.0, self.sigma * math.sqrt(0.2))
                loss = float(self.law.predict(t.params, t.tokens * f) * math.exp(shared + own))
                self.curves.append(
                    {
                        "trial_id": t.trial_id,
                        "tokens": t.tokens * f,
                        "flops": t.flops * f,
                        "eval/loss": loss,
                        BRANCH_FRACTION: f,
                        BRANCH_TOKENS: t.tokens * f,
                        BRANCH_FLOPS: t.flops * f,
                        "branch/eval/loss": loss,
                    }
                )
            self.trials[t.trial_id] = {
                "trial_id": t.trial_id,
                "stage": "main",
                "status": "TERMINATED",
                BUDGET: t.assignment[BUDGET],
                "model.params": t.assignment["model.params"],
                "params": t.params,
                "tokens": t.tokens,
                "flops": t.flops,
                "eval/loss": loss,
            }
        pd.DataFrame(list(self.trials.values())).to_csv(self.folder / TRIALS_FILE, index=False)
        pd.DataFrame(self.curves).to_csv(self.folder / CURVES_FILE, index=False)


def compute_spec(path: str, overrides: list[str]):
    raw = read_with_overrides(path, overrides)
    if is_pipeline(raw):
        stages = pipeline_from_raw(raw, source=path).stages
        return next(s.spec for s in stages if s.spec.compute is not None)
    return spec_from_dict(raw, source=path)


def fit(folder: Path, target: float) -> dict:
    out = folder / "fit.json"
    argv = [sys.executable, str(ROOT / "analysis" / "fit_scaling.py"), str(folder)]
    argv += ["--law", "chinchilla", "--predict", f"C={target:.6g}", "--bootstrap", "200"]
    subprocess.run([*argv, "--quiet", "--json", str(out)], check=True, capture_output=True)
    law = json.loads(out.read_text())["chinchilla"]
    loss = next(p for p in law["predictions"] if p["quantity"] == "loss_opt")
    return {"a": law["a"]["hi"] - law["a"]["lo"], "loss": (loss["hi"] - loss["lo"]) / loss["value"]}


def placement(tables: SimulatedTables, law: ChinchillaFit) -> dict[float, tuple[float, bool]]:
    rows = pd.DataFrame(list(tables.trials.values()))
    truth = law._replace(
        compute=ComputeModel.estimate(rows["params"], rows["tokens"], rows["flops"])
    )
    out = {}
    for budget, group in rows.groupby(BUDGET):
        n_star = float(truth.n_opt(budget))
        centre = math.exp(np.log(group["params"]).mean())
        inside = group["params"].min() <= n_star <= group["params"].max()
        out[float(budget)] = (math.log10(centre / n_star), bool(inside))
    return out


def one(spec, law, sigma: float, seed: int, target_factor: float) -> dict:
    """Both designs on one draw of the noise."""
    results = {}
    for label, adaptive in (("fixed", False), ("adaptive", True)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            current = spec.model_copy(
                update={"compute": spec.compute.model_copy(update={"recentre": adaptive})}
            )
            (folder / SPEC_FILE).write_text(yaml.safe_dump(current.to_dict()), encoding="utf-8")
            tables = SimulatedTables(folder, law, sigma, seed)
            for plan in recentre.stage_rounds(make_plan(current), tables, folder, "main", None):
                tables.run(plan.trials)
            target = max(current.compute.budgets) * target_factor
            results[label] = {**fit(folder, target), "placement": placement(tables, law)}
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("yaml", help="a compute sweep (or a pipeline with a compute stage)")
    p.add_argument("--tokens-per-param", type=float, nargs=2, metavar=("LO", "HI"))
    p.add_argument("--sigma", type=float, default=0.013, help="noise of log loss per point")
    p.add_argument("--reps", type=int, default=1, help="draws of the noise")
    p.add_argument("--target", type=float, default=4.0, help="x the largest budget")
    args = p.parse_args(argv)
    spec = compute_spec(args.yaml, [])
    if args.tokens_per_param:
        auto = spec.compute.auto.model_copy(
            update={"tokens_per_param": tuple(args.tokens_per_param)}
        )
        sizes = spec.compute.sizes.model_copy(update={"auto": auto})
        spec = spec.model_copy(update={"compute": spec.compute.model_copy(update={"sizes": sizes})})
    for rep in range(args.reps):
        res = one(spec, MAIN_JOB_LAW, args.sigma, rep, args.target)
        print(f"rep {rep} (sigma {args.sigma:.1%}):")
        for budget in sorted(res["fixed"]["placement"]):
            cells = []
            for label in ("fixed", "adaptive"):
                miss, inside = res[label]["placement"].get(budget, (math.nan, False))
                cells.append(f"{label} {miss:+.2f} dec{'' if inside else ' (N* outside)'}")
            print(f"  C={budget:.3g}: sizes' centre vs N*: " + ", ".join(cells))
        f, a = res["fixed"], res["adaptive"]
        print(
            f"  95 % widths, fixed -> adaptive: a {f['a']:.3f} -> {a['a']:.3f} "
            f"({a['a'] / f['a']:.2f}x), loss at {args.target:g}x {f['loss']:.1%} -> "
            f"{a['loss']:.1%} ({a['loss'] / f['loss']:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
