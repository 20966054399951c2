"""A pydantic validation error as the one line every command prints: ``dotted.key: message``.

Specs (sweeps), size presets (models) and the fit's options (analysis) all validate with
pydantic and all report a mistake the same way, so the rule lives here, where every package
may import it. Duck-typed on ``err.errors()``: the contract imports no validation library.

    try:
        cfg = GPTConfig.model_validate(raw)
    except ValidationError as err:
        raise ValueError(validation_line(err, raw, GPTConfig, prefix="model.")) from None
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol


class ValidationErrorLike(Protocol):
    """What is read of a pydantic ``ValidationError``."""

    def errors(self) -> list[dict[str, Any]]: ...


def _dotted(loc: tuple[Any, ...], raw: Any) -> str:
    """Join a pydantic error location, dropping union tags that are not keys of the input."""
    parts: list[str] = []
    node = raw
    for i, part in enumerate(loc):
        is_key = isinstance(node, dict) and part in node
        is_index = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (is_key or is_index) and i + 1 < len(loc) and isinstance(node, dict):
            continue  # a discriminated-union tag such as "synthetic"
        parts.append(f"[{part}]" if isinstance(part, int) else str(part))
        node = node[part] if (is_key or is_index) else None
    return ".".join(parts).replace(".[", "[")


def _fields_at(model_cls: Any, loc: tuple[Any, ...]) -> list[str]:
    cls = model_cls
    for part in loc:
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return []
        cls = field.annotation
    return list(getattr(cls, "model_fields", {}))


def _suggest(key: str, loc: tuple[Any, ...], model_cls: Any) -> str:
    match = difflib.get_close_matches(key, _fields_at(model_cls, loc[:-1]), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def validation_line(
    err: ValidationErrorLike, raw: Any = None, model_cls: Any = None, prefix: str = ""
) -> str:
    """The first problem of a validation error as ``<prefix>dotted.key: message``, with how
    many more there are. `raw` (the validated input) lets union tags drop out of the path;
    `model_cls` lets an unknown key suggest the field it resembles."""
    errors = err.errors()
    # A union (compute.sizes: a list or {auto: ...}) reports every branch; the branch the
    # input's type chose is the one whose error is not a type mismatch.
    chosen = [e for e in errors if not e["type"].endswith("_type")]
    if chosen and len(chosen) < len(errors):
        errors = chosen
    first = errors[0]
    loc = tuple(first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        hint = _suggest(str(loc[-1]), loc, model_cls) if model_cls else ""
        msg = f"unknown key{hint}"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif "input" in first and first["type"] not in ("value_error", "assertion_error"):
        msg = f"{msg} (got {first['input']!r})"
    path = _dotted(loc, raw)
    more = len(errors) - 1
    suffix = f" (+{more} more problem{'s' if more > 1 else ''})" if more else ""
    if not path or msg.startswith(path):
        return f"{msg}{suffix}"
    return f"{prefix}{path}: {msg}{suffix}"
