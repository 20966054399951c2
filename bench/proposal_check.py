"""Does a proposal keep its promise? The proposer's expected widths against a refit, simulated.

Writes a finished compute sweep whose losses come from a known law (the main job's own fit) with
run-correlated noise, asks `python -m sweeps.new --propose` for the next runs, draws the proposed
runs' losses from the same law, and fits the old sweep alone and both folders together with
`analysis/fit_scaling.py` (Approach 3, 200 bootstrap resamples). It prints the width of the
predicted loss at the target that the proposal's header promised before and after, against the
bootstrap widths the two fits report, and the ratio of each.

    python bench/proposal_check.py sweeps/scaling.yaml --reps 2
    python bench/proposal_check.py sweeps/scaling.yaml --flops 2e13 --target 4x
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from adaptive_budgets import MAIN_JOB_LAW, SimulatedTables, compute_spec  # noqa: E402

from contract.results import SPEC_FILE  # noqa: E402
from sweeps.plan.trials import make_plan  # noqa: E402
from sweeps.spec.sweep_spec import load_spec  # noqa: E402

PROMISE = re.compile(r"loss [0-9.]+: ([0-9.]+)% now, ([0-9.]+)% with these runs")


def simulate(spec, folder: Path, sigma: float, seed: int) -> None:
    folder.mkdir(parents=True)
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec.to_dict()), encoding="utf-8")
    SimulatedTables(folder, MAIN_JOB_LAW, sigma, seed).run(make_plan(spec).trials)


def loss_width(folders: list[Path], target: float) -> float:
    out = folders[0].parent / "fit.json"
    argv = [sys.executable, str(BENCH.parent / "analysis" / "fit_scaling.py"), *map(str, folders)]
    argv += ["--law", "chinchilla", "--predict", f"C={target:.6g}", "--bootstrap", "200"]
    subprocess.run([*argv, "--quiet", "--json", str(out)], check=True, capture_output=True)
    preds = json.loads(out.read_text())["chinchilla"]["predictions"]
    loss = next(p for p in preds if p["quantity"] == "loss_opt")
    return (loss["hi"] - loss["lo"]) / loss["value"]


def one(spec, sigma: float, seed: int, target: str, flops: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        grid = Path(tmp) / "grid"
        simulate(spec, grid, sigma, seed)
        out = Path(tmp) / "grid-next.yaml"
        argv = [sys.executable, "-m", "sweeps.new", "grid-next", "--propose", str(grid)]
        argv += ["--target", target, "--out", str(out)] + (["--flops", flops] if flops else [])
        subprocess.run(argv, check=True, capture_output=True, cwd=BENCH.parent)
        header = out.read_text()
        promised = [float(x) / 100 for x in PROMISE.search(header).groups()]
        c_target = float(re.search(r"\(C=([0-9.e+]+)\)", header).group(1))
        simulate(load_spec(out), Path(tmp) / "grid-next", sigma, seed + 1000)
        before = loss_width([grid], c_target)
        after = loss_width([grid, Path(tmp) / "grid-next"], c_target)
        runs = len(make_plan(load_spec(out)).trials)
        print(
            f"seed {seed}: {runs} runs proposed; width of the loss at C={c_target:.3g}: promised "
            f"{promised[0]:.1%} -> {promised[1]:.1%} ({promised[1] / promised[0]:.2f}x), "
            f"refit {before:.1%} -> {after:.1%} ({after / before:.2f}x)"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("yaml", help="a compute sweep (or a pipeline with a compute stage)")
    p.add_argument("--sigma", type=float, default=0.013, help="noise of log loss per point")
    p.add_argument("--reps", type=int, default=1, help="draws of the noise")
    p.add_argument("--target", default="4x")
    p.add_argument("--flops", help="allowance (default: the sweep's own FLOPs)")
    args = p.parse_args(argv)
    spec = compute_spec(args.yaml, [])
    for seed in range(args.reps):
        one(spec, args.sigma, seed, args.target, args.flops)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
