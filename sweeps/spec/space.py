"""The search space as data: axes found in a sweep YAML, and their conversion to Ray Tune.

Any field of a trial's config may be an axis instead of a value:
``grid: [...]``, ``choice: [...]``, ``uniform: [lo, hi]``, ``loguniform: [lo, hi]`` or
``randint: [lo, hi]`` (``lo`` inclusive, ``hi`` exclusive, as in Ray Tune).

    raw, axes = extract_axes({"optim": {"lr": {"loguniform": [1e-4, 1e-2]}}})
    axes["optim.lr"].kind            # "loguniform"
    to_tune(axes)                   # {"optim.lr": tune.loguniform(1e-4, 1e-2)}  (ray imported lazily)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

AXIS_KINDS = ("grid", "choice", "uniform", "loguniform", "randint")
ENUMERATED_KINDS = ("grid", "choice")
SAMPLED_KINDS = ("uniform", "loguniform", "randint")


class SpaceError(ValueError):
    """A malformed axis; the message starts with the dotted key path."""


@dataclass(frozen=True)
class Axis:
    """One swept field: its dotted path into the trial config, its kind and its values."""

    path: str
    kind: str
    values: tuple[Any, ...]
    """The listed values (grid, choice) or the (lo, hi) bounds (uniform, loguniform, randint)."""

    @property
    def is_sampled(self) -> bool:
        return self.kind in SAMPLED_KINDS

    @property
    def representative(self) -> Any:
        """A value used to validate the rest of the config before the axis is expanded."""
        return self.values[0]

    def sample(self, rng: random.Random) -> Any:
        """Draw one value; the planner calls this with a seeded RNG so plans are reproducible."""
        lo, hi = self.values[0], self.values[-1]
        if self.kind in ENUMERATED_KINDS:
            return rng.choice(self.values)
        if self.kind == "uniform":
            return rng.uniform(lo, hi)
        if self.kind == "loguniform":
            return math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return rng.randrange(lo, hi)


def _parse_axis(path: str, node: dict[str, Any]) -> Axis:
    ((kind, values),) = node.items()
    if not isinstance(values, list) or not values:
        raise SpaceError(f"{path}.{kind}: expected a non-empty list, got {values!r}")
    if kind in ENUMERATED_KINDS:
        return Axis(path, kind, tuple(values))
    if len(values) != 2:
        raise SpaceError(f"{path}.{kind}: expected [low, high], got {values!r}")
    lo, hi = values
    numeric = (int,) if kind == "randint" else (int, float)
    if any(isinstance(v, bool) or not isinstance(v, numeric) for v in values):
        wanted = "integers" if kind == "randint" else "numbers"
        raise SpaceError(f"{path}.{kind}: bounds must be {wanted}, got {values!r}")
    if not lo < hi:
        raise SpaceError(f"{path}.{kind}: low ({lo}) must be below high ({hi})")
    if kind == "loguniform" and lo <= 0:
        raise SpaceError(f"{path}.loguniform: bounds must be positive, got {values!r}")
    return Axis(path, kind, (lo, hi))


def is_axis_node(node: Any) -> bool:
    """True for a mapping like ``{grid: [...]}`` (exactly one key, an axis kind)."""
    return isinstance(node, dict) and len(node) == 1 and next(iter(node)) in AXIS_KINDS


def extract_axes(raw: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, Axis]]:
    """Split a raw config mapping into fixed values and axes.

    Returns the mapping with every axis replaced by its representative value (so the whole
    config can be validated once) and the axes by dotted path.
    """
    fixed: dict[str, Any] = {}
    axes: dict[str, Axis] = {}
    for key, node in raw.items():
        path = f"{prefix}{key}"
        if is_axis_node(node):
            axis = _parse_axis(path, node)
            axes[path] = axis
            fixed[key] = axis.representative
        elif isinstance(node, dict):
            fixed[key], inner = extract_axes(node, prefix=f"{path}.")
            axes.update(inner)
        else:
            fixed[key] = node
    return fixed, axes


def set_dotted(tree: dict[str, Any], path: str, value: Any) -> None:
    """Set ``tree[a][b][c] = value`` for ``path == "a.b.c"``, creating mappings on the way."""
    *parents, leaf = path.split(".")
    node = tree
    for i, key in enumerate(parents):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise SpaceError(
                f"{'.'.join(parents[: i + 1])}: is a value, cannot set {path} inside it"
            )
        node = child
    node[leaf] = value


def get_dotted(tree: dict[str, Any], path: str) -> Any:
    """The value at ``path`` in nested mappings; KeyError if a part is missing."""
    node: Any = tree
    for key in path.split("."):
        node = node[key]
    return node


def to_tune(axes: dict[str, Axis]) -> dict[str, Any]:
    """Ray Tune's search-space objects for the axes, keyed by dotted path (used by Optuna)."""
    from ray import tune

    converted: dict[str, Any] = {}
    for path, axis in axes.items():
        if axis.kind in ENUMERATED_KINDS:
            converted[path] = tune.choice(list(axis.values))
        else:
            converted[path] = getattr(tune, axis.kind)(*axis.values)
    return converted
