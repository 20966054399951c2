"""User-facing errors: one line, naming the file and the dotted key, never a traceback.

try:
    spec = load_spec(path)
except SpecError as err:
    sys.exit(report_user_error(err))   # prints "scalesweep: error: <one line>" and returns 2
"""

from __future__ import annotations

import difflib
import sys
from typing import Any

from pydantic import ValidationError

USER_ERROR_EXIT = 2


class SpecError(ValueError):
    """A mistake in a spec, an override or the command line; its text is shown as is."""


def report_user_error(err: BaseException) -> int:
    """Print the error as a single line on stderr and return the exit status for it."""
    text = " ".join(str(err).split()) or err.__class__.__name__
    print(f"scalesweep: error: {text}", file=sys.stderr)
    return USER_ERROR_EXIT


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


def _suggest(key: str, raw: Any, loc: tuple[Any, ...], model_cls: Any) -> str:
    fields = _fields_at(model_cls, loc[:-1])
    match = difflib.get_close_matches(key, fields, n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _fields_at(model_cls: Any, loc: tuple[Any, ...]) -> list[str]:
    cls = model_cls
    for part in loc:
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return []
        cls = field.annotation
    return list(getattr(cls, "model_fields", {}))


def format_validation_error(err: ValidationError, raw: Any, model_cls: Any = None) -> str:
    """The first problem of a pydantic ValidationError as ``dotted.key: message``."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        hint = _suggest(str(loc[-1]), raw, loc, model_cls or err.title) if model_cls else ""
        msg = f"unknown key{hint}"
    elif first["type"] == "missing":
        msg = "required key is missing"
    elif "input" in first and first["type"] not in ("value_error", "assertion_error"):
        msg = f"{msg} (got {first['input']!r})"
    path = _dotted(loc, raw)
    more = len(err.errors()) - 1
    suffix = f" (+{more} more problem{'s' if more > 1 else ''})" if more else ""
    if not path or msg.startswith(path):
        return f"{msg}{suffix}"
    return f"{path}: {msg}{suffix}"
