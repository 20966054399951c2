"""Small modules with one job, short functions at the core.

A file over ``MAX_FILE_LINES`` is two jobs waiting to be split; a function over
``MAX_FUNCTION_LINES`` in the packages where the work happens must say in its docstring why it
stays whole (a docstring saying "Kept whole: <why>" gives that reason).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.contract.test_layering import OURS, ROOT

CORE = ("sweeps", "trainers", "analysis")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
REASON = "kept whole:"
"""The docstring phrase that says why a long function stays one piece (case-insensitive)."""


def _sources(packages: tuple[str, ...]) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions in ``path`` longer than ``limit`` lines whose docstring gives no reason."""
    label = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = node.end_lineno - node.lineno + 1
        doc = (ast.get_docstring(node) or "").lower()
        if length > limit and REASON not in doc:
            out.append(f"{label}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_no_file_is_over_the_limit():
    long = {
        str(p.relative_to(ROOT)): n
        for p in _sources(OURS)
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"files over {MAX_FILE_LINES} lines: {long}"


def test_no_core_function_is_long_without_a_reason():
    found = [f for p in _sources(CORE) for f in long_functions(p)]
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines, no reason given: {found}"


def test_the_check_sees_a_long_function_and_its_reason(tmp_path: Path):
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    example = tmp_path / "example.py"
    example.write_text(f"def f():\n{body}\n\ndef g():\n    '''Kept whole: one loop.'''\n{body}")
    found = long_functions(example)
    assert len(found) == 1 and " f (" in found[0]
