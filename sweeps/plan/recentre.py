"""Adaptive compute sweeps: budgets run smallest first, later budgets' sizes placed on the fit.

With `compute: {recentre: true}` a stage runs one budget at a time. Before a budget starts, the
points finished so far are fitted (Approach 3: `analysis/fit_scaling.py --law chinchilla` as a
child process kept apart from the Ray driver, read back from its `--json` file), and the budget's `per_budget` sizes are
spread evenly in log N over the predicted N*'s 95 % interval, widened to at least +-0.3 decade
around N*. A fit that cannot place N* more narrowly than the initial plan spans leaves that plan
as it is. A budget that has rows in trials.csv has started and keeps the sizes it ran with, so a
resumed sweep re-plans nothing that ran; the sizes each budget got are written into the sweep
folder's spec.yaml as `compute.sizes_by_budget`, so the spec there plans the sweep as it ran.

    for budget_plan in stage_rounds(plan, tables, sweep_dir, "main", spec):
        ...                                    # run budget_plan's trials, then the next budget
    centred_sizes(n_star=6e4, lo=4e4, hi=9e4, per_budget=6, widest=15.0)
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.fit_outputs import FIT_JSON, N_POINTS, PREDICTIONS, QUANTITY
from contract.results import BUDGET, FINISHED, STAGE, STATUS
from models.shapes import MIN_PARAMS
from sweeps.plan.trials import Plan, TrialPoint, make_plan
from sweeps.spec.compute_spec import PARAMS_KEY
from sweeps.spec.sweep_spec import SweepSpec

if TYPE_CHECKING:  # the pipeline sits above the planner; only its type is named here
    from sweeps.stages.pipeline_spec import PipelineSpec

FIT_SCRIPT = Path(__file__).resolve().parents[2] / "analysis" / "fit_scaling.py"
MIN_HALF_SPAN = 0.3
"""Decades each side of the predicted N* that a re-centred budget covers at the least: a
parabola through its sizes needs both flanks, whatever the fit's interval says."""
FIT_RESAMPLES = 200
"""Bootstrap resamples of the fit that places a budget (a few seconds on the main job)."""
SIZE_KEY = PARAMS_KEY
"""The size a re-centred budget sets per trial: a parameter count."""
LAW = "chinchilla"
"""The law whose N*(C) predictions place a budget's sizes (Approach 3, fitted on its own)."""


def centred_sizes(
    n_star: float, lo: float, hi: float, per_budget: int, widest: float, smallest: float = 0.0
) -> list[float] | None:
    """`per_budget` sizes evenly spaced in log N over [lo, hi] widened to N* 10^(+-0.3); None
    when that range is wider than `widest` (max/min of the initial plan's sizes): the fit then
    knows less about this budget's optimum than the plan already assumed. A range that starts
    below `smallest` (the smallest model the shape rule builds) moves up, keeping its width."""
    if not (n_star > 0 and math.isfinite(n_star)):
        return None
    half = 10**MIN_HALF_SPAN
    low = min(lo, n_star / half) if lo > 0 and math.isfinite(lo) else n_star / half
    high = max(hi, n_star * half) if math.isfinite(hi) else n_star * half
    if high / low > widest * (1 + 1e-9):
        return None
    if low < smallest:
        low, high = smallest, high * smallest / low
    step = math.log(high / low) / (per_budget - 1)
    return [float(f"{math.exp(math.log(low) + i * step):.3g}") for i in range(per_budget)]


def placed_sizes(rows: Iterable[Mapping[str, Any]], stage: str) -> dict[float, list[float]]:
    """Sizes of every budget that has started (has rows in trials.csv), as planned."""
    placed: dict[float, set[float]] = {}
    for row in rows:
        budget, size = row.get(BUDGET), row.get(SIZE_KEY)
        if row.get(STAGE, stage) == stage and budget is not None and size is not None:
            placed.setdefault(float(budget), set()).add(float(size))
    return {b: sorted(s) for b, s in placed.items()}


def with_sizes(spec: SweepSpec, placed: Mapping[float, list[float]]) -> SweepSpec:
    """`spec` with `placed` sizes added to `compute.sizes_by_budget`."""
    compute = spec.compute
    merged = {**compute.sizes_by_budget, **{b: list(s) for b, s in placed.items()}}
    return spec.model_copy(
        update={"compute": compute.model_copy(update={"sizes_by_budget": merged})}
    )


def budget_plan(spec: SweepSpec, budget: float) -> Plan:
    """The trials of one budget (sizes from `sizes_by_budget` when placed, else auto)."""
    one = spec.compute.model_copy(update={"budgets": [budget]})
    return make_plan(spec.model_copy(update={"compute": one}))


def fit_optima(
    sweep_dir: Path, stage: str, budgets: list[float]
) -> tuple[dict[float, tuple[float, float, float]], str]:
    """N* (value, 95 % lo, hi) at each budget by Approach 3 over the stage's finished points,
    and how many points it used; ({}, why) when nothing could be fitted."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / FIT_JSON
        argv = [str(sweep_dir), "--where", f"stage == '{stage}'", "--law", LAW]
        argv += ["--predict", *(f"C={b:.6g}" for b in budgets)]
        argv += ["--bootstrap", str(FIT_RESAMPLES), "--holdout-largest", "0", "--quiet"]
        proc = subprocess.run(
            [sys.executable, str(FIT_SCRIPT), *argv, "--json", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return {}, last.removeprefix("fit_scaling: error: ")
        result = json.loads(out.read_text(encoding="utf-8"))
    law = result.get(LAW) or {}
    optima = {}
    for p in law.get(PREDICTIONS, []):
        if p.get(QUANTITY) == "N_opt" and "C" in p:
            lo, hi = (math.nan if p.get(k) is None else p[k] for k in ("lo", "hi"))
            optima[_nearest(p["C"], budgets)] = (p["value"], lo, hi)
    return optima, f"{law.get(N_POINTS, 0)} points"


def _nearest(c: float, budgets: list[float]) -> float:
    return min(budgets, key=lambda b: abs(math.log(b / c)))


def _finished_budgets(rows: Iterable[Mapping[str, Any]], stage: str) -> set[float]:
    return {
        float(r[BUDGET])
        for r in rows
        if r.get(STAGE, stage) == stage and r.get(STATUS) == FINISHED and r.get(BUDGET)
    }


def _fits(spec: SweepSpec, done: set[float]) -> bool:
    """Whether the finished budgets can place N*: Approach 3 separates N from D only across
    budgets, and a run's cooldown points sit at budgets of their own."""
    branches = any(f < 1 for f in getattr(spec.base.optim, "cooldowns", None) or ())
    return len(done) >= 2 or (len(done) == 1 and branches)


def record(
    sweep_dir: Path, identity: SweepSpec | PipelineSpec, stage: str, spec: SweepSpec
) -> None:
    """Write `spec`'s placed sizes into the folder's spec.yaml: the spec itself for a plain
    sweep, its stage's `compute.sizes_by_budget` for a pipeline (the stages' file)."""
    from sweeps.folder.sweep_dir import write_spec

    if isinstance(identity, SweepSpec):
        write_spec(sweep_dir, spec)
        return
    raw = copy.deepcopy(identity.raw)
    placed = spec.compute.model_dump(mode="json")["sizes_by_budget"]
    for body in raw["stages"]:
        if body.get("name") == stage:
            section = body.get("compute") or copy.deepcopy(raw.get("compute", {}))
            body["compute"] = {**section, "sizes_by_budget": placed}
    write_spec(sweep_dir, dataclasses.replace(identity, raw=raw))


def _place(spec: SweepSpec, initial: Plan, budget: float, optimum) -> tuple[list[float], str]:
    """The sizes of `budget` and a line saying where they came from."""
    start = sorted({t.swept[SIZE_KEY] for t in initial.trials})
    if isinstance(optimum, str):
        return start, f"C={budget:.3g}: the initial sizes ({optimum})"
    n_star, lo, hi = optimum
    widest = max(start) / min(start) if len(start) > 1 else 10 ** (2 * MIN_HALF_SPAN)
    sizes = centred_sizes(n_star, lo, hi, spec.compute.auto.per_budget, widest, MIN_PARAMS)
    if sizes is None:
        why = f"the fit puts N* at {n_star:.3g} with a 95 % interval {lo:.3g}-{hi:.3g}, wider "
        return start, f"C={budget:.3g}: the initial sizes ({why}than the plan's {widest:.3g}x)"
    return sizes, (
        f"C={budget:.3g}: sizes {sizes[0]:.3g}-{sizes[-1]:.3g} around the fitted N*={n_star:.3g} "
        f"(95 %: {lo:.3g}-{hi:.3g})"
    )


def stage_rounds(
    plan: Plan,
    tables: Any,
    sweep_dir: Path,
    stage: str,
    identity: SweepSpec | PipelineSpec,
) -> Iterator[Plan]:
    """The plans a stage runs one after the other: the whole plan, or with `recentre` one
    budget at a time, each placed once the ones before it have run (the caller runs a yielded
    plan before asking for the next; a budget's plan also lists the budgets before it, whose
    trials have settled). The placed sizes are written into the spec.yaml of the folder's
    `identity` (its SweepSpec, or the PipelineSpec whose stage this is)."""
    spec = plan.spec
    if spec.compute is None or not spec.compute.recentre:
        yield plan
        return
    fitted_on: set[float] = set()
    optima: dict[float, Any] = {}
    earlier: list[TrialPoint] = []
    for budget in spec.compute.budgets:
        rows = list(tables.trials.values())
        started = placed_sizes(rows, stage)  # a budget since dropped from the spec stays out
        spec = with_sizes(spec, {b: s for b, s in started.items() if b in spec.compute.budgets})
        if budget not in spec.compute.sizes_by_budget:
            done = _finished_budgets(rows, stage)
            later = [b for b in spec.compute.budgets if b not in spec.compute.sizes_by_budget]
            if _fits(spec, done) and done != fitted_on:  # new points since the last fit
                fitted_on = done
                found, used = fit_optima(sweep_dir, stage, later)
                optima = {b: found.get(b, used) for b in later}
                print(f"[{spec.name}] compute.recentre: fitted {used}", flush=True)
            optimum = optima.get(budget, "one budget cannot yet tell N from D")
            sizes, line = _place(spec, budget_plan(plan.spec, budget), budget, optimum)
            spec = with_sizes(spec, {budget: sizes})
            print(f"[{spec.name}] compute.recentre: {line}", flush=True)
        record(sweep_dir, identity, stage, spec)
        # The budgets before this one ride along, settled: progress counts the stage so far.
        current = budget_plan(spec, budget)
        yield Plan(spec=spec, trials=[*earlier, *current.trials], notes=current.notes)
        earlier += current.trials
