"""JSON schema of a sweep YAML, for editor autocompletion (`python -m sweeps.run --schema`).

Every leaf field of the trial config also accepts an axis (`{grid: [...]}`, `{loguniform:
[lo, hi]}`, ...), so the schema offers both.

    schema = spec_json_schema()
    schema["properties"]["model"]
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from contract.fit_settings import SweepFitSettings
from rl.config import RL_TASK, RLTask, RLTrialConfig
from sweeps.plan.resources import ResourcesConfig
from sweeps.spec.compute_spec import ComputeConfig
from sweeps.spec.sections import RunOptions, SearchConfig
from sweeps.spec.space import AXIS_KINDS
from sweeps.spec.tracker_spec import LoggingConfig
from sweeps.stages.pipeline import StageSource
from trainers.config import TrialConfig

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


def _merge_defs(defs: dict[str, Any], model: type[BaseModel], allow_axes: bool) -> dict[str, Any]:
    """`model`'s schema with its sub-models moved into `defs` (shared by every section)."""
    sub = model.model_json_schema(ref_template="#/$defs/{model}")
    if allow_axes:
        sub = _allow_axes(sub)
    defs.update(sub.pop("$defs", {}))
    return sub


def _allow_objective_lists(search: dict[str, Any]) -> None:
    """`metric: [a, b]` and `mode: [min, min]` ask for a multi-objective search."""
    for key in ("metric", "mode"):
        one = search[key]
        search[key] = {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}


def _add_rl_task(task: dict[str, Any], defs: dict[str, Any]) -> None:
    """Make `task: {type: rl, ...}` one more member of the trial config's task union: RL's
    options sit under `task:` as every other task's do (`type: rl` selects them, so the schema
    requires it, as the spec does)."""
    _merge_defs(defs, RLTrialConfig, allow_axes=True)  # puts RLTask (with axes) into defs
    defs[RLTask.__name__]["required"] = ["type"]
    union = next(node for node in task["anyOf"] if "oneOf" in node)
    ref = f"#/$defs/{RLTask.__name__}"
    union["oneOf"].append({"$ref": ref})
    union["discriminator"]["mapping"][RL_TASK] = ref


def spec_json_schema() -> dict[str, Any]:
    """The schema of every file `sweeps.run` accepts: a sweep of trial configs (lm, mlm, ...,
    rl), or a pipeline whose `stages:` each hold the same sections."""
    defs: dict[str, Any] = {}
    sections = dict(_merge_defs(defs, TrialConfig, allow_axes=True).get("properties", {}))
    _add_rl_task(sections["task"], defs)
    models = (SearchConfig, ResourcesConfig, RunOptions, ComputeConfig, LoggingConfig)
    for model in (*models, SweepFitSettings):
        defs[model.__name__] = _merge_defs(defs, model, allow_axes=False)
    _allow_objective_lists(defs["SearchConfig"]["properties"])
    sections.update(
        search={"$ref": "#/$defs/SearchConfig"},
        resources={"$ref": "#/$defs/ResourcesConfig"},
        run={"$ref": "#/$defs/RunOptions"},
        compute={"$ref": "#/$defs/ComputeConfig"},
        logging={"$ref": "#/$defs/LoggingConfig"},
    )
    defs["StageSource"] = _merge_defs(defs, StageSource, allow_axes=False)
    stage = {
        "type": "object",
        "description": "One stage of a pipeline: the shared sections, overridden.",
        "properties": {
            "name": {"type": "string", "description": "Stage name (a stage column value)."},
            "from": {"$ref": "#/$defs/StageSource"},
            **sections,
        },
        "required": ["name"],
        "additionalProperties": False,
    }
    properties = {
        "name": {"type": "string", "description": "Sweep name: the folder under the storage root."},
        "description": {"type": "string"},
        **sections,
        "analysis": {"$ref": f"#/$defs/{SweepFitSettings.__name__}"},
        "stages": {"type": "array", "minItems": 1, "items": stage},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "scalesweep sweep spec",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "$defs": defs,
    }
