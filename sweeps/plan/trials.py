"""Expand a SweepSpec into the concrete trials it runs, with size, data and compute estimates.

The plan is computed before Ray starts: it is what ``--dry-run`` prints, and the runner hands
exactly these trials to Ray Tune (grid and random searches), so a re-run can skip the ones a
sweep folder already finished by their identity hash.

    plan = make_plan(load_spec("sweeps/scaling.yaml"))
    print(render_plan(plan))
    plan.trials[0].trial_id      # "3f9a0c21d4"
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass, field
from typing import Any

from contract.compute import training_flops
from contract.metrics import FLOPS, PARAMS, TOKENS
from contract.results import BUDGET, DATA_FRACTION, MODEL_SIZE, TRIAL_ID
from sweeps.plan import compute
from sweeps.plan.resources import WorkerResources
from sweeps.spec.compute_spec import EPOCHS_KEY
from sweeps.spec.sweep_spec import SweepSpec
from trainers.config import AnyTrialConfig

ID_LENGTH = 10
LINK_KEYS = ("model", "task.init_from")
"""Assignment keys a later pipeline stage takes from its upstream trial (shown as upstream.*)."""


@dataclass(frozen=True)
class TrialPoint:
    """One trial: its swept values, resolved config, resources and analytic estimates."""

    trial_id: str
    """Hash of the resolved trial config: the trial's identity across re-runs."""
    tag: str
    """Short readable prefix for folder names, e.g. gpt-50k_f0.3_s1."""
    swept: dict[str, Any]
    """Swept values by dotted config path (a compute sweep's size and tokens included)."""
    config: AnyTrialConfig
    """The validated trial config (TrialConfig, or RLTrialConfig for an RL trial)."""
    resources: WorkerResources
    params: int
    params_total: int
    tokens: int
    """Training tokens (env steps for RL) the trial will consume."""
    flops: float
    train_tokens: int | None = None
    """Size of the trial's training split (None for RL)."""
    upstream: dict[str, Any] = field(default_factory=dict)
    """For a later pipeline stage: the upstream trial's identity and values (upstream.*)."""
    budget: float | None = None
    """A compute sweep's nominal training-FLOP budget for this trial (its IsoFLOP group and
    the tables' `budget` column); None outside compute sweeps. Not a config field."""

    @property
    def dirname(self) -> str:
        return f"{self.tag}-{self.trial_id}"

    @property
    def assignment(self) -> dict[str, Any]:
        """The swept values as the tables and a trial's payload show them: `swept`, with a
        compute sweep's budget as its `budget` column (where it has always stood: after the
        token budget, before any epochs). The one home of that rule: trials.csv's swept columns
        (sweeps.folder.tables) are these, less the keys a later stage links (LINK_KEYS)."""
        if self.budget is None:
            return self.swept
        head = {k: v for k, v in self.swept.items() if k != EPOCHS_KEY}
        tail = {k: v for k, v in self.swept.items() if k == EPOCHS_KEY}
        return {**head, BUDGET: self.budget, **tail}


@dataclass(frozen=True)
class Plan:
    spec: SweepSpec
    trials: list[TrialPoint]
    adaptive: bool = False
    """True for optuna: the trials are chosen while the sweep runs; `trials` then lists one
    representative point per enumerated value for the estimates."""
    notes: list[str] = field(default_factory=list)


def trial_id(config: Any) -> str:
    """Stable identity of a trial config (same config -> same id on every machine)."""
    blob = json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:ID_LENGTH]


def _tag(spec: SweepSpec, config: Any, assignment: dict[str, Any], budget: float | None) -> str:
    parts = [config.model.label]
    if budget is not None:  # IsoFLOP runs are named by their budget first: C1e12_gpt-n300k
        parts.insert(0, "C" + f"{budget:.2g}".replace("+", ""))  # C2.5e11
    if DATA_FRACTION in assignment:
        parts.append(f"f{assignment[DATA_FRACTION]:g}")
    seed_axis = spec.axes.get("seed")
    if seed_axis and len(seed_axis.values) > 1:
        parts.append(f"s{assignment['seed']}")
    return "_".join(str(p) for p in parts)


def _assignments(spec: SweepSpec) -> list[dict[str, Any]]:
    axes = spec.axes
    if spec.search.algorithm == "grid":
        crossed, sampled = list(axes.values()), []
    elif spec.search.algorithm == "optuna":
        # Estimates only: every listed value once, sampled axes at their low end.
        crossed, sampled = [a for a in axes.values() if not a.is_sampled], []
    else:
        crossed = [a for a in axes.values() if a.kind == "grid"]
        sampled = [a for a in axes.values() if a.kind != "grid"]
    grid_points = [
        dict(zip([a.path for a in crossed], values, strict=True))
        for values in itertools.product(*(a.values for a in crossed))
    ]
    if not sampled:
        return grid_points
    rng = random.Random(spec.search.seed)
    return [
        {**point, **{a.path: a.sample(rng) for a in sampled}}
        for point in grid_points
        for _ in range(spec.search.num_samples)
    ]


def make_trial(
    spec: SweepSpec,
    assignment: dict[str, Any],
    train_tokens: int | None = None,
    upstream: dict[str, Any] | None = None,
    budget: float | None = None,
    config: AnyTrialConfig | None = None,
) -> TrialPoint:
    """Build one TrialPoint; `train_tokens` is the size of its data split (counted if None),
    `config` the trial config of `assignment` where the caller has validated it already.

    An `assignment` taken from another trial's `TrialPoint.assignment` (a later pipeline
    stage's) may carry that trial's `budget` column: it becomes the typed `budget` here."""
    if BUDGET in assignment:
        assignment = dict(assignment)
        budget = assignment.pop(BUDGET)
    if config is None:
        config = spec.trial_config(assignment)
    if train_tokens is None:
        train_tokens = config.train_size()  # None for RL: it samples from its environment
    # Each kind counts what it trains: a classifier its backbone without LM head plus its head,
    # an RL trial the policy/value networks RLlib builds for the env, not the bare preset.
    params, params_total, fwd_flops = config.counts()
    tokens = config.num_tokens(train_tokens)
    resources = spec.resources.for_size(config.model.size)
    return TrialPoint(
        trial_id=trial_id(config),
        tag=_tag(spec, config, assignment, budget),
        swept=assignment,
        config=config,
        resources=resources,
        params=params,
        params_total=params_total,
        tokens=tokens,
        flops=training_flops(fwd_flops, tokens),
        train_tokens=train_tokens,
        upstream=upstream or {},
        budget=budget,
    )


def largest_first(trials: list[TrialPoint]) -> list[TrialPoint]:
    """Trials in the order a sweep should start them: largest planned compute first (ties keep
    their planned order), so the last trials to finish are short ones and no slot idles long."""
    return sorted(trials, key=lambda t: -t.flops)


def make_plan(spec: SweepSpec) -> Plan:
    """Expand the spec. Counting training tokens may tokenize the corpus once (then cached)."""
    token_counts: dict[tuple, int] = {}

    def counted(cfg: Any) -> int:
        key = (cfg.data.model_dump_json(), cfg.task.model_dump_json(), cfg.seq_len)
        if key not in token_counts:
            token_counts[key] = cfg.train_size()
        return token_counts[key]

    trials: list[TrialPoint] = []
    notes: list[str] = []
    points = [compute.PlanPoint(a) for a in _assignments(spec)]
    if spec.compute is not None:
        # Every budget x size at each point of the other axes (lr, seeds, data.fraction, ...).
        expanded = []
        for point in points:
            budgeted, left_out = compute.expand(spec, point.assignment, counted)
            expanded += budgeted
            notes += [n for n in left_out if n not in notes]
        points = expanded
    for point in points:
        config = spec.trial_config(point.assignment)
        train_tokens = None if spec.is_rl else counted(config)
        trials.append(
            make_trial(spec, point.assignment, train_tokens, budget=point.budget, config=config)
        )
    unique = list({t.trial_id: t for t in trials}.values())
    if len(unique) < len(trials):
        notes.append(f"{len(trials) - len(unique)} duplicate trial configs dropped")
    adaptive = spec.search.algorithm == "optuna"
    if adaptive:
        notes.append(
            f"optuna picks {spec.search.num_samples} trials while it runs; the rows above are "
            "the listed values, for estimates"
        )
    return Plan(spec=spec, trials=unique, adaptive=adaptive, notes=notes)


def _si(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale * 0.9995:  # 999.96G prints as 1T, not 1e+03G
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """One row per trial: identity, swept values and estimates (for printing and tables)."""
    rows = []
    for t in plan.trials:
        row: dict[str, Any] = {TRIAL_ID: t.trial_id}
        budget = t.budget
        if budget is not None:
            row[BUDGET] = budget
        row[MODEL_SIZE] = t.config.model.label
        row[PARAMS] = t.params
        if not plan.spec.is_rl:
            row[DATA_FRACTION] = t.config.data.fraction
        row[TOKENS] = t.tokens
        if budget is not None:
            row["D/N"] = t.tokens / t.params
        row[FLOPS] = t.flops
        if budget is not None:
            row["vs_budget"] = f"{t.flops / budget - 1:+.2%}"
            if EPOCHS_KEY in t.swept:  # only where compute.repeat_data allowed it
                row["epochs"] = t.swept[EPOCHS_KEY]
        skip = (*LINK_KEYS, *compute.COMPUTE_KEYS)
        row.update({k: v for k, v in t.swept.items() if k not in row and k not in skip})
        row.update({k: v for k, v in t.upstream.items() if k.endswith(TRIAL_ID)})
        rows.append(row)
    return rows


def render_plan(plan: Plan) -> str:
    """The dry-run table and totals as text."""
    rows = plan_rows(plan)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    data_label = "env_steps" if plan.spec.is_rl else TOKENS  # the tokens column's header

    def cell(key: str, value: Any) -> str:
        if key in (PARAMS, TOKENS, FLOPS, BUDGET):
            return _si(value)
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = [[c if c != TOKENS else data_label for c in columns]]
    table += [[cell(c, row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in table]
    total_tokens = sum(t.tokens for t in plan.trials)
    total_flops = sum(t.flops for t in plan.trials)
    lines.append("")
    lines.append(
        f"sweep {plan.spec.name}: {len(plan.trials)} trials, {_si(total_tokens)} {data_label}, "
        f"{_si(total_flops)} training FLOPs"
    )
    if plan.spec.compute is not None and plan.trials:
        lines.append(_compute_summary(plan))
    lines += [f"note: {n}" for n in plan.notes]
    return "\n".join(lines)


def _compute_summary(plan: Plan) -> str:
    """Budgets, sizes per budget and the worst planned-FLOP miss of a compute sweep."""
    budgets: dict[float, set[int]] = {}
    for t in plan.trials:
        budgets.setdefault(t.budget, set()).add(t.params)
    sizes = sorted(len(v) for v in budgets.values())
    worst = max(abs(t.flops / t.budget - 1) for t in plan.trials)
    span = max(budgets) / min(budgets)
    return (
        f"compute: {len(budgets)} budgets over {span:.3g}x, {sizes[0]}-{sizes[-1]} sizes per "
        f"budget, planned FLOPs within {worst:.2%} of their budgets "
        f"(tolerance {plan.spec.compute.tolerance:.0%})"
    )
