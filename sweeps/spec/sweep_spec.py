"""Sweep YAML -> typed, frozen, validated `SweepSpec`.

The file holds sweep-level sections (``name``, ``search``, ``resources``, ``run``) and the
trial config (``model``, ``data``, ``optim``, ``trainer``, ``task``, ``seed``; an RL sweep is
``task: {type: rl, ...}`` with ``model`` and ``seed``), in which any field may be an axis (see
`sweeps.spec.space`). Every mistake becomes one `SpecError` line naming the file and the dotted key.

    spec = load_spec("sweeps/smoke.yaml", overrides=["optim.lr=1e-3"])
    spec.axes["model.size"].values     # ("gpt-20k", "gpt-100k")
    spec.trial_config({"model.size": "gpt-20k"})   # a validated TrialConfig

The spec itself is `sweeps.spec.spec_model`, its sections `sweeps.spec.sections` and
`sweeps.spec.compute_spec`, reading the file `sweeps.spec.reading`, the checks across sections
`sweeps.spec.checks`; their public names are importable from here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sweeps.errors import SpecError, format_validation_error
from sweeps.spec.checks import (
    check_axes,
    check_compute,
    check_rl_resources,
    check_search,
    checked_trial_class,
)
from sweeps.spec.reading import parse_override, read_with_overrides, read_yaml, refuse_rl_section
from sweeps.spec.sections import RunOptions, SchedulerConfig, SearchConfig
from sweeps.spec.space import Axis, SpaceError, extract_axes
from sweeps.spec.spec_model import (
    SWEEP_KEYS,
    SWEEP_NAME_PATTERN,
    TASK_TYPES,
    TRIAL_KEYS,
    SweepSpec,
    is_rl_trial,
    trial_config_class,
)
from sweeps.spec.strict_yaml import check_axis_kinds, check_values
from sweeps.spec.tracker_spec import check_installed

__all__ = [
    "SWEEP_KEYS",
    "SWEEP_NAME_PATTERN",
    "TASK_TYPES",
    "TRIAL_KEYS",
    "RunOptions",
    "SchedulerConfig",
    "SearchConfig",
    "SweepSpec",
    "is_rl_trial",
    "load_spec",
    "parse_override",
    "read_with_overrides",
    "read_yaml",
    "refuse_rl_section",
    "spec_from_dict",
    "trial_config_class",
]


def spec_from_dict(
    raw: dict[str, Any], source: str = "<spec>", name: str | None = None
) -> SweepSpec:
    """Validate a raw mapping (a loaded YAML plus overrides) into a SweepSpec."""
    refuse_rl_section(raw, source)
    unknown = [k for k in raw if k not in SWEEP_KEYS + TRIAL_KEYS]
    if unknown:
        raise SpecError(
            f"{source}: {unknown[0]}: unknown key; valid: {', '.join(SWEEP_KEYS + TRIAL_KEYS)}"
        )
    trial_raw = {k: raw[k] for k in TRIAL_KEYS if k in raw}
    try:
        fixed, axes = extract_axes(trial_raw)
    except SpaceError as err:
        raise SpecError(f"{source}: {err}") from None
    config_cls = checked_trial_class(fixed, axes, source)
    try:
        base = config_cls.model_validate(fixed)
    except ValidationError as err:
        check_axis_kinds(trial_raw, source)
        raise SpecError(f"{source}: {format_validation_error(err, fixed, config_cls)}") from None
    head = {k: raw[k] for k in SWEEP_KEYS if k in raw}
    head.setdefault("name", name or Path(source).stem)
    if name:
        head["name"] = name
    try:
        spec = SweepSpec.model_validate({**head, "base": base, "axes": {}, "source": source})
    except ValidationError as err:
        raise SpecError(f"{source}: {format_validation_error(err, head, SweepSpec)}") from None
    check_values(fixed, base, source)
    check_values(head, spec, source)
    if "seed" in axes:
        raise SpecError(f"{source}: seed: use search.seeds for replicates, not an axis on seed")
    if spec.search.seeds != [0] or "seed" not in fixed:
        axes["seed"] = Axis("seed", "grid", tuple(spec.search.seeds))
    spec = spec.model_copy(update={"axes": axes})
    check_axes(spec)
    check_compute(spec)
    check_rl_resources(spec)
    check_installed(spec.logging, source)
    check_search(spec)
    return spec


def load_spec(path: str | Path, overrides: list[str] = (), name: str | None = None) -> SweepSpec:
    """Load a sweep YAML, apply ``--set`` overrides, validate. Raises SpecError."""
    return spec_from_dict(read_with_overrides(path, overrides), source=str(path), name=name)
