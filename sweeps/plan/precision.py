"""What a compute sweep's design is expected to earn, printed by its dry-run before it runs.

The plan's points (each trial's end and each cooldown branch, at its own N, D, C and nominal
budget) go to ``analysis.checks.expected_precision`` in a subprocess (``sweeps`` never imports
``analysis``), which draws losses at them from a prior law at the measured run-to-run noise and
fits replicates with the real analysis: the expected 95 % widths of a, b and the predicted loss
at the forecast target, the warnings to expect, and the prior law's own N* and D* there (from
which the dry-run sizes the forecast run).

    points = design_points(plan)                 # list of dicts: id, run_id, N, D, C, budget
    report = expected_precision(plan, "4x", prior=None, noise=None)
    print("\\n".join(report["lines"]))
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from contract.results import BUDGET, RUN_ID
from sweeps.errors import SpecError

REPO = Path(__file__).resolve().parents[2]
DESIGN_MODULE = "analysis.checks.expected_precision"
DESIGN_SECONDS = 12.0
"""Time the simulation may spend on replicates, so the whole dry-run stays within 30 s."""
DESIGN_RESAMPLES = 40
"""Bootstrap resamples per replicate: more replicates in the time matter more than finer
percentiles within one (replicates' widths scatter by about a third on the main job)."""
COLUMNS = ("id", RUN_ID, "N", "D", "C", BUDGET)


def design_points(plan: Any) -> list[dict[str, Any]]:
    """One row per point the analysis will fit; a SpecError if the plan has no budgets."""
    rows = []
    for trial in plan.trials:
        if trial.budget is None:
            raise SpecError(
                f"{plan.spec.source}: no compute: section; the expected precision is planned "
                "for compute-budget sweeps"
            )
        for f in trial.config.optim.cooldowns or [1.0]:
            rows.append(
                {
                    "id": f"{trial.trial_id}@{f:g}",
                    RUN_ID: trial.trial_id,
                    "N": float(trial.params),
                    "D": trial.tokens * f,
                    "C": trial.flops * f,
                    BUDGET: trial.budget * f,
                }
            )
    return rows


def points_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def expected_precision(
    plan: Any,
    target: str,
    prior: str | None = None,
    noise: float | None = None,
    seconds: float = DESIGN_SECONDS,
) -> dict[str, Any]:
    """The design module's JSON for this plan (lines to print, target, the prior's N*, D*).

    ``prior`` is a finished sweep folder whose fit replaces the shipped law; ``noise`` the
    run-to-run noise (default: measured, by the trials' evaluation tokens).
    """
    eval_tokens = max(t.config.trainer.eval_tokens for t in plan.trials)
    argv = ["--json", "--target", target, "--eval-tokens", str(eval_tokens)]
    argv += ["--seconds", f"{seconds:g}", "--resamples", str(DESIGN_RESAMPLES)]
    if prior is not None:
        argv += ["--prior", os.path.abspath(os.path.expanduser(prior))]
    if noise is not None:
        argv += ["--noise", repr(noise)]
    floor = plan.spec.analysis.approach3_min_tokens_per_param
    if floor is not None:  # the replicates are fitted as the sweep's own results will be
        argv += ["--approach3-min-tokens-per-param", repr(floor)]
    proc = subprocess.run(
        [sys.executable, "-m", DESIGN_MODULE, "-", *argv],
        input=points_csv(design_points(plan)),
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    if proc.returncode == 2 and last.startswith("design: error: "):
        raise SpecError(last.removeprefix("design: error: "))  # the user's --prior or --noise
    if proc.returncode != 0:
        raise RuntimeError(f"{DESIGN_MODULE} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)
