"""User-facing errors: one line, naming the file and the dotted key, never a traceback.

try:
    spec = load_spec(path)
except SpecError as err:
    sys.exit(report_user_error(err))   # prints "scalesweep: error: <one line>" and returns 2
"""

from __future__ import annotations

import difflib
import re
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
        hint = _suggest(str(loc[-1]), raw, loc, model_cls or err.title) if model_cls else ""
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
    return f"{path}: {msg}{suffix}"


def describe_crash(text: str) -> str:
    """One line for a trial whose process died, from what Ray recorded: an out-of-memory
    kill, a signal or an exit code when Ray states one, else Ray's own exit detail."""
    flat = " ".join(text.split())
    if re.search(r"running low on memory|OutOfMemoryError|out of memory", flat, re.I):
        return "trial process killed: out of memory"
    signal = re.search(r"(?:killed by|received|by) signal (SIG[A-Z0-9]+|\d+)", flat)
    if signal:
        return f"trial process killed by signal {signal.group(1)}"
    code = re.search(r"exit(?:ed with)? code[ =:]+(-?\d+)", flat)
    if code:
        return f"trial process exited with code {code.group(1)}"
    detail = re.search(r"Worker exit detail: (.+?\.)(?: |$)", flat)
    if detail:
        return f"trial process died: {detail.group(1)}"
    return "trial process died (Ray recorded no reason; see its logs)"
