"""A sweep folder written directly, shaped like the main job's (6 budgets a factor 2 apart x 6
sizes, losses from a known Chinchilla law plus noise), for the live page's tests and its bench:
the page reads only files, so the files are all it needs.

    folder = write_sweep(tmp_path / "scaling", finished=20, running=2)
    grow(folder, trial_index=20)          # one more report of a running trial
"""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Any

import yaml

from contract.metrics import EPISODE_RETURN, EVAL_LOSS, FLOPS, PARAMS, STEP, TOKENS
from contract.results import BUDGET, CURVES_FILE, SPEC_FILE, TRIALS_FILE, best_column

BUDGETS = [1.25e11 * 2**k for k in range(6)]
REPORTS = 8
CURVE_COLUMNS = ["trial_id", STEP, TOKENS, FLOPS, EVAL_LOSS]


def _loss(n: float, d: float, rng: random.Random) -> float:
    return (1.2 + 400.0 / n**0.5 + 300.0 / d**0.45) * (1 + rng.gauss(0, 0.004))


def plan(rl: bool = False) -> list[dict[str, Any]]:
    """The trials: for each budget 6 sizes around its optimum (or, for RL, 3 policy sizes)."""
    trials = []
    if rl:
        for i, n in enumerate((1e3, 5e3, 2e4)):
            trials.append(
                {"id": f"r{i:04d}", "tag": f"mlp-{n:.0f}", "N": n, "D": 4000.0, "C": None}
            )
        return trials
    for b, c in enumerate(BUDGETS):
        n_opt = 0.1 * c**0.5
        for j, f in enumerate((0.25, 0.5, 1.0, 2.0, 4.0, 8.0)):
            n = n_opt * f
            trials.append(
                {
                    "id": f"t{b}{j}abcd",
                    "tag": f"C{c:.2g}-N{n:.3g}",
                    "N": n,
                    "D": c / (6 * n),
                    "C": c,
                }
            )
    return trials


def write_sweep(
    folder: Path, finished: int, running: int = 0, rl: bool = False, tags: dict | None = None
) -> Path:
    """Write spec.yaml, trials.csv and curves.csv: the first `finished` trials done, the next
    `running` half way, the rest pending. `tags` replaces trial tags (hostile text tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    metric = EPISODE_RETURN if rl else EVAL_LOSS
    spec = {"name": folder.name, "search": {"metric": metric, "mode": "max" if rl else "min"}}
    if rl:
        spec["task"] = {"type": "rl", "algo": "ppo"}
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec), encoding="utf-8")
    rng = random.Random(0)
    rows, curves = [], []
    for i, t in enumerate(plan(rl)):
        status = (
            "TERMINATED" if i < finished else "RUNNING" if i < finished + running else "PENDING"
        )
        reports = REPORTS if status == "TERMINATED" else REPORTS // 2 if status == "RUNNING" else 0
        values = []
        for k in range(1, reports + 1):
            d = t["D"] * k / REPORTS
            y = (
                20 + 400 * (1 - math.exp(-d / 1500)) * t["N"] ** 0.1
                if rl
                else _loss(t["N"], d, rng)
            )
            values.append(y)
            curves.append(
                {"trial_id": t["id"], STEP: k, TOKENS: d, FLOPS: 6 * t["N"] * d, metric: y}
            )
        row = {
            "trial_id": t["id"],
            "tag": (tags or {}).get(t["id"], t["tag"]),
            "stage": "main",
            "status": status,
            PARAMS: t["N"],
            "tokens_planned": t["D"],
            "flops_planned": 6 * t["N"] * t["D"],
            TOKENS: t["D"] * reports / REPORTS,
            # A cooldown branch at half of each run adds 10 % to the FLOPs actually trained.
            FLOPS: 6.6 * t["N"] * t["D"] * reports / REPORTS,
            metric: values[-1] if values else "",
            best_column(metric): (max if rl else min)(values) if values else "",
            "wall_s": 12.5 * reports if values else "",
        }
        if t["C"] is not None:
            row[BUDGET] = t["C"]
        rows.append(row)
    for name, table in ((TRIALS_FILE, rows), (CURVES_FILE, curves)):
        with (folder / name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in table for k in r)))
            writer.writeheader()
            writer.writerows(table)
    return folder


def append_curve(folder: Path, trial_id: str, tokens: float, loss: float) -> None:
    """One more report, appended as the runner appends it."""
    with (folder / CURVES_FILE).open(newline="", encoding="utf-8") as f:
        columns = next(csv.reader(f))
    with (folder / CURVES_FILE).open("a", newline="", encoding="utf-8") as f:
        row = {"trial_id": trial_id, TOKENS: tokens, EVAL_LOSS: loss, STEP: 99}
        csv.DictWriter(f, fieldnames=columns, extrasaction="ignore").writerow(row)


def forecast(folder: Path, stage: str, C: float, value: float, realised: float | None) -> None:
    """A preregistered forecast for `stage` and, with `realised`, its ledger row."""
    out = folder / f"{stage}-forecast"
    out.mkdir(parents=True, exist_ok=True)
    loss = {
        "value": value,
        "lo80": value * 0.98,
        "hi80": value * 1.02,
        "lo95": value * 0.97,
        "hi95": value * 1.03,
    }
    record = {
        "forecast_id": "f00d",
        "target_flops": C,
        "chosen": "frontier",
        "loss": loss,
        "n_star": {"value": 0.1 * C**0.5},
    }
    (out / "forecast.json").write_text(json.dumps(record), encoding="utf-8")
    if realised is not None:
        with (folder.parent / "forecasts.csv").open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(
                f, fieldnames=["forecast_id", "realised_loss", "error_pct", "inside80", "inside95"]
            )
            w.writeheader()
            err = 100 * (realised - value) / value
            w.writerow(
                {
                    "forecast_id": "f00d",
                    "realised_loss": realised,
                    "error_pct": err,
                    "inside80": abs(err) < 2,
                    "inside95": abs(err) < 3,
                }
            )
