"""The checks of a sweep spec that span its sections, each refusing with one `SpecError` line
naming the file and the key: the trial kind (task type, RL's own sections), what a compute
section cannot compose with, RL resources, search options only Optuna honours, and the axes.

    checked_trial_class(fixed, axes, "s.yaml")   # TrialConfig or RLTrialConfig
    check_compute(spec); check_axes(spec)        # None, or a SpecError
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from rl.config import RL_TASK, RLTrialConfig
from sweeps.errors import SpecError
from sweeps.spec.compute_spec import SIZE_KEYS, TOKEN_KEYS
from sweeps.spec.space import Axis
from sweeps.spec.spec_model import TASK_TYPES, SweepSpec, trial_config_class
from trainers.config import TrialConfig


def checked_trial_class(
    fixed: dict[str, Any], axes: dict[str, Axis], source: str
) -> type[TrialConfig] | type[RLTrialConfig]:
    """The trial config class of a sweep, naming every valid task type (RL included) and the
    sections an RL trial has; RL trials cannot share a sweep with others, since every trial of
    a sweep is validated as one kind."""
    task = fixed.get("task")
    kind = task.get("type") if isinstance(task, dict) else None
    if kind is not None and kind not in TASK_TYPES:
        raise SpecError(
            f"{source}: task.type: {kind!r} is not a known task; valid: {', '.join(TASK_TYPES)}"
        )
    axis = axes.get("task.type")
    if axis is not None and RL_TASK in axis.values and set(axis.values) != {RL_TASK}:
        raise SpecError(f"{source}: task.type: rl trials need a sweep of their own, not an axis")
    config_cls = trial_config_class(fixed)
    extra = [key for key in fixed if key not in config_cls.model_fields]
    if config_cls is RLTrialConfig and extra:
        raise SpecError(
            f"{source}: {extra[0]}: an rl task learns from its environment and takes no "
            f"{extra[0]} section; valid: {', '.join(RLTrialConfig.model_fields)}"
        )
    return config_cls


def check_rl_resources(spec: SweepSpec) -> None:
    """An RL trial's resources come from RLlib's own request (env runners, learner GPUs), so a
    Train-worker GPU request would be silently ignored: refuse it and say what to set."""
    if not spec.is_rl:
        return
    res = spec.resources
    asked = [("resources.gpus_per_worker", res.gpus_per_worker)]
    asked += [
        (f"resources.by_size.{k}.gpus_per_worker", o.gpus_per_worker)
        for k, o in res.by_size.items()
    ]
    for key, gpus in asked:
        if gpus:
            raise SpecError(
                f"{spec.source}: {key}: RL trials take GPUs through task.num_learner_gpus; "
                "set that instead"
            )
    if res.workers > 1:
        raise SpecError(
            f"{spec.source}: resources.workers: RL trials scale with task.num_env_runners, "
            "not Train workers; leave workers at 1"
        )


def check_search(spec: SweepSpec) -> None:
    """Options that only an Optuna search can honour, and samplers that cannot honour them."""
    search, source = spec.search, spec.source
    if len(search.more_modes) != len(search.more_metrics):
        raise SpecError(f"{source}: search.mode: give one mode per metric")
    optuna = search.algorithm == "optuna"
    if search.sampler is not None and not optuna:
        raise SpecError(f"{source}: search.sampler: needs search.algorithm: optuna")
    if search.more_metrics:
        if not optuna:
            raise SpecError(f"{source}: search.metric: several metrics need algorithm: optuna")
        if search.sampler == "cmaes":
            raise SpecError(
                f"{source}: search.sampler: cmaes optimises one metric; use nsga2, tpe, gp, "
                "qmc or random for several"
            )
        if search.scheduler.type != "fifo":
            raise SpecError(
                f"{source}: search.scheduler: asha ranks trials by one metric; use fifo with "
                "several metrics"
            )


def check_axes(spec: SweepSpec) -> None:
    """Every axis path must name a field, and every listed value or bound must validate."""
    search = spec.search
    for path, axis in spec.axes.items():
        if axis.is_sampled and search.algorithm == "grid":
            raise SpecError(
                f"{spec.source}: {path}: a {axis.kind} axis needs search.algorithm random or "
                "optuna (grid only enumerates grid/choice values)"
            )
        for value in axis.values:
            spec.trial_config({path: value})
    for key in search.scheduler.stratify_by:
        if key not in spec.axes:
            raise SpecError(
                f"{spec.source}: search.scheduler.stratify_by: {key} is not a swept axis"
            )


def check_compute(spec: SweepSpec) -> None:
    """Refuse what a compute section cannot compose with, naming the key (load time)."""
    if spec.compute is None:
        return
    where = spec.source
    if spec.is_rl:
        raise SpecError(f"{where}: compute: budgets apply to token-trained tasks, not RL")
    if spec.search.algorithm == "optuna":
        raise SpecError(f"{where}: compute: needs search.algorithm grid or random, not optuna")
    for key in (*SIZE_KEYS, *TOKEN_KEYS):
        if key in spec.axes:
            raise SpecError(f"{where}: {key}: the compute section sets it; remove the axis")
    trainer_set = spec.base.trainer.model_fields_set
    for key in ("max_tokens", "epochs"):
        if key in trainer_set:
            raise SpecError(
                f"{where}: trainer.{key}: a compute sweep derives it from each budget; remove it"
            )
    extra = [b for b in spec.compute.sizes_by_budget if b not in spec.compute.budgets]
    if extra:
        raise SpecError(
            f"{where}: compute.sizes_by_budget: {extra[0]:g} is not one of compute.budgets"
        )
    if spec.compute.recentre and spec.compute.auto is None:
        raise SpecError(
            f"{where}: compute.recentre: needs sizes: {{auto: {{...}}}} (it keeps their "
            "per_budget and places them per budget)"
        )
    model = spec.base.model
    sizes = spec.compute.sizes
    listed = [*([] if spec.compute.auto else sizes), *chain(*spec.compute.sizes_by_budget.values())]
    by_count = spec.compute.auto is not None or any(not isinstance(s, str) for s in listed)
    if by_count and "size" in model.model_fields_set:
        raise SpecError(f"{where}: model.size: compute.sizes sets the sizes; remove model.size")
