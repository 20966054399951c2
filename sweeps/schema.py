"""JSON schema of a sweep YAML, for editor autocompletion (`python -m sweeps.run --schema`).

Every leaf field of the trial config also accepts an axis (`{grid: [...]}`, `{loguniform:
[lo, hi]}`, ...), so the schema offers both.

    schema = spec_json_schema()
    schema["properties"]["model"]
"""

from __future__ import annotations

from typing import Any

from sweeps.compute import ComputeConfig
from sweeps.resources import ResourcesConfig
from sweeps.space import AXIS_KINDS
from sweeps.spec import RunOptions, SearchConfig
from trainers.config import RunConfig

AXIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {kind: {"type": "array", "minItems": 1} for kind in AXIS_KINDS},
    "additionalProperties": False,
    "description": "A swept field: grid/choice list values; uniform/loguniform/randint [low, high].",
}


def _allow_axes(node: Any) -> Any:
    """Wrap every leaf property schema as anyOf [leaf, axis]."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            for key, sub in props.items():
                is_object = sub.get("type") == "object" or "$ref" in sub or "properties" in sub
                props[key] = _allow_axes(sub) if is_object else {"anyOf": [sub, AXIS_SCHEMA]}
        for key in ("$defs", "definitions"):
            if key in node:
                node[key] = {k: _allow_axes(v) for k, v in node[key].items()}
    return node


def spec_json_schema() -> dict[str, Any]:
    """The schema of a sweep YAML file (trial sections + sweep sections)."""
    trial = _allow_axes(RunConfig.model_json_schema())
    properties = dict(trial.get("properties", {}))
    properties.update(
        name={"type": "string", "description": "Sweep name: the folder under the storage root."},
        description={"type": "string"},
        search={"$ref": "#/$defs/SearchConfig"},
        resources={"$ref": "#/$defs/ResourcesConfig"},
        run={"$ref": "#/$defs/RunOptions"},
        compute={"$ref": "#/$defs/ComputeConfig"},
    )
    defs = dict(trial.get("$defs", {}))
    for model in (SearchConfig, ResourcesConfig, RunOptions, ComputeConfig):
        sub = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        defs[model.__name__] = sub
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "scalesweep sweep spec",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "$defs": defs,
    }
