"""A sweep YAML into a raw mapping: the file, the ``--set key=value`` overrides, and the
old top-level ``rl:`` section refused with what to write instead. Every problem is one
`SpecError` line naming the file (or the flag) and where.

    raw = read_with_overrides("sweeps/smoke.yaml", ["optim.lr=1e-3"])
    parse_override("search.seeds=[0, 1]")   # ("search.seeds", [0, 1])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rl.config import RL_TASK
from sweeps.errors import SpecError
from sweeps.spec.space import SpaceError, set_dotted
from sweeps.spec.strict_yaml import load_yaml


def parse_override(text: str) -> tuple[str, Any]:
    """``"optim.lr=1e-3"`` -> ``("optim.lr", 0.001)``; values are YAML, so lists and axes work."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {text!r}: expected dotted.key=value")
    try:
        return key.strip(), load_yaml(value) if value.strip() else None
    except SpecError as err:
        raise SpecError(f"--set {key}: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(
            f"--set {key}: value is not valid YAML ({err.__class__.__name__})"
        ) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Safe-load a YAML mapping, turning every file problem into a one-line SpecError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as err:
        raise SpecError(f"{path}: cannot read spec ({err.__class__.__name__})") from None
    try:
        raw = load_yaml(text)
    except SpecError as err:
        raise SpecError(f"{path}:{err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "?"
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise SpecError(f"{path}:{where}: YAML syntax error: {problem}") from None
    if raw is None:
        raise SpecError(f"{path}: spec file is empty")
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: top level must be a mapping of keys, got {type(raw).__name__}")
    return raw


def read_with_overrides(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    """A sweep YAML as a raw mapping with the ``--set key=value`` overrides applied."""
    raw = read_yaml(path)
    for text in overrides:
        key, value = parse_override(text)
        try:
            set_dotted(raw, key, value)
        except SpaceError as err:
            raise SpecError(f"--set {err}") from None
    return raw


def refuse_rl_section(raw: dict[str, Any], source: str) -> None:
    """The top-level `rl:` section became the task `rl`: say exactly what to write instead."""
    if "rl" not in raw:
        return
    parts = [raw.get("task"), raw["rl"]]  # a --set rl.X on a new file lands beside its task
    options = {k: v for part in parts if isinstance(part, dict) for k, v in part.items()}
    options.pop("type", None)
    now = yaml.safe_dump(
        {"task": {"type": RL_TASK, **options}}, default_flow_style=True, sort_keys=False, width=1e9
    ).strip()
    raise SpecError(f"{source}: rl: RL settings are now a task; replace rl: with {now}")
