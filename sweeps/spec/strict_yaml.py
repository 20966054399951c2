"""Values YAML lets through that a sweep must not: duplicate keys, booleans used as numbers,
non-finite floats, integers too large to mean anything, misspelled axis kinds.

Pydantic's lax mode turns `true` into 1 and accepts `.inf` and 1e30 for numbers, and PyYAML
keeps the last of two equal keys without a word; each of those ran a wrong sweep silently.

    raw = load_yaml(text, source="sweep.yaml")      # SpecError on a duplicate key
    check_values(raw, TrialConfig.model_validate(raw), source="sweep.yaml")
    check_axis_kinds(raw, source="sweep.yaml")      # "optim.lr: unknown axis kind 'gird' ..."
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import yaml
from pydantic import BaseModel

from sweeps.errors import SpecError
from sweeps.spec.space import AXIS_KINDS

MAX_INT = 2**53
"""Largest integer a config may hold: beyond it a float (which token and FLOP arithmetic
turns counts into) no longer represents every integer, and no real count comes near it
(1e15 tokens is past every published training run)."""


MERGE_TAG = "tag:yaml.org,2002:merge"
"""The tag of a YAML merge key (`<<`)."""


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping with the same key twice."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue  # `<<: *base`: the merged keys may be overridden, as plain YAML allows
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise SpecError(f"line {line}: duplicate key {key!r} (each key may appear once)")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def load_yaml(text: str) -> Any:
    """Safe-load YAML text, refusing duplicate keys (SpecError "line N: duplicate key ...")."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def _leaves(node: Any, path: str = ""):
    """(dotted path, value) of every leaf of nested mappings and lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, node


def _validated(model: Any, path: str) -> tuple[bool, Any]:
    """The validated value at a dotted path of the raw tree (axes' `kind` parts skipped)."""
    node = model
    for part in path.replace("[", ".[").split("."):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, (list, tuple)) or index >= len(node):
                return False, None
            node = node[index]
        elif isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def check_values(raw: Any, model: Any, source: str) -> None:
    """Refuse booleans given for numbers, anything but true/false for a switch, non-finite
    floats and out-of-range integers in a raw mapping and the model validated from it; the
    error names `source` and the dotted key."""
    for path, value in _leaves(raw):
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(f"{source}: {path}: {value} is not a finite number")
        found, validated = _validated(model, path)
        if isinstance(value, bool) and found and not isinstance(validated, bool):
            raise SpecError(f"{source}: {path}: expected a number, got the boolean {value}")
        if not isinstance(value, bool) and found and isinstance(validated, bool):
            # Pydantic's lax mode reads 'yes', 'on' and 1 as true: a typo would switch it on.
            raise SpecError(f"{source}: {path}: expected true or false, got {value!r}")
    tree = model.model_dump(mode="python") if isinstance(model, BaseModel) else model
    for path, value in _leaves(tree):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise SpecError(f"{source}: {path}: {value:.3g} is too large (at most 2**53)")


def check_axis_kinds(raw: Any, source: str, path: str = "") -> None:
    """A one-key mapping of a list whose key is close to an axis kind is a misspelled axis."""
    if not isinstance(raw, dict):
        return
    if len(raw) == 1 and path:
        ((key, value),) = raw.items()
        if isinstance(key, str) and key not in AXIS_KINDS and isinstance(value, list):
            match = difflib.get_close_matches(key, AXIS_KINDS, n=1, cutoff=0.6)
            if match:
                raise SpecError(
                    f"{source}: {path}: unknown axis kind {key!r} (did you mean {match[0]!r}?); "
                    f"axis kinds: {', '.join(AXIS_KINDS)}"
                )
    for key, value in raw.items():
        check_axis_kinds(value, source, f"{path}.{key}" if path else str(key))
