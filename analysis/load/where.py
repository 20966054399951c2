"""A row filter that cannot run code: ``--where`` text becomes a boolean mask, nothing else.

``DataFrame.query`` evaluates Python (its ``@`` references reach any object in scope), so a
filter typed on a command line must never reach it. This module parses the text with ``ast``
(parsing runs nothing) and accepts only: comparisons (``== != < <= > >= in`` and ``not in``)
between a column name and a literal, joined by ``and``/``or``/``not`` and parentheses.
Columns whose names are not identifiers are written in backticks: ```eval/loss` < 3``.

    mask = row_mask(frame, "stage == 'main' and params >= 1e7")
    mask = row_mask(frame, "`model.size` in ['gpt-10m', 'gpt-20m'] or not (loss > 4)")
    frame[mask]
"""

from __future__ import annotations

import ast
import operator
import re

import numpy as np
import pandas as pd

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FLIPPED = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}
"""A literal on the left (``3 < loss``) is the same test with the operator mirrored."""
_BACKTICK = re.compile(r"`([^`]*)`")


MAX_LENGTH = 4000
"""Longest filter text: far past any typed by hand (the Chinchilla excerpt's is 12 characters)."""
MAX_TERMS = 200
"""Most comparisons in one filter; each is a pass over the table (20,000 took 114 s)."""
MAX_DEPTH = 100
"""Deepest nesting of not/and/or/parentheses; Python's own parser and evaluator recurse."""


class FilterError(ValueError):
    """The filter text is not one this module accepts (the message says why)."""


def _literal(node: ast.expr) -> object:
    """A number, string, boolean or None, or a list/tuple of them (for ``in``)."""
    if isinstance(node, ast.Constant) and isinstance(
        node.value, (int, float, str, bool, type(None))
    ):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    raise FilterError(f"expected a literal (number, string, list), got {ast.unparse(node)!r}")


class _Evaluator:
    def __init__(self, frame: pd.DataFrame, columns: dict[str, str]) -> None:
        self.frame = frame
        self.columns = columns  # placeholder identifier -> real column name

    def column(self, node: ast.expr) -> pd.Series | None:
        if not isinstance(node, ast.Name):
            return None
        name = self.columns.get(node.id, node.id)
        if name not in self.frame.columns:
            shown = ", ".join(map(str, list(self.frame.columns)[:12]))
            raise FilterError(f"no column {name!r} (has: {shown})")
        return self.frame[name]

    def compare(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> pd.Series:
        col = self.column(left)
        if col is None:  # literal on the left: mirror the test
            col, left, right = self.column(right), right, left
            if col is None:
                raise FilterError("each comparison needs one column name and one literal")
            if type(op) in (ast.In, ast.NotIn):
                raise FilterError("write `column in [...]`, with the column on the left")
            op = _FLIPPED.get(type(op), type(op))()
        value = _literal(right)
        if type(op) in (ast.In, ast.NotIn):
            if not isinstance(value, list):
                raise FilterError("`in` needs a list, e.g. size in ['a', 'b']")
            mask = col.isin(value)
            return ~mask if isinstance(op, ast.NotIn) else mask
        if isinstance(value, list):
            raise FilterError("a list can only follow `in` or `not in`")
        try:
            return pd.Series(_COMPARE[type(op)](col, value), index=col.index).fillna(False)
        except TypeError as err:
            raise FilterError(f"cannot compare column {col.name!r} with {value!r}: {err}") from None

    def eval(self, node: ast.expr) -> pd.Series:
        if isinstance(node, ast.BoolOp):
            parts = [self.eval(v).astype(bool) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = parts[0]
            for p in parts[1:]:
                out = combine(out, p)
            return out
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.eval(node.operand).astype(bool)
        if isinstance(node, ast.Compare):
            if not all(type(op) in (*_COMPARE, ast.In, ast.NotIn) for op in node.ops):
                raise FilterError("only == != < <= > >= in and not in compare values")
            # A chained comparison a < x < b is (a < x) and (x < b), as in Python.
            terms = [node.left, *node.comparators]
            masks = [
                self.compare(terms[i], op, terms[i + 1]).astype(bool)
                for i, op in enumerate(node.ops)
            ]
            out = masks[0]
            for m in masks[1:]:
                out = out & m
            return out
        raise FilterError(
            f"{ast.unparse(node)!r} is not a comparison; use column <op> literal joined by "
            "and/or/not"
        )


def row_mask(frame: pd.DataFrame, text: str) -> pd.Series:
    """Boolean mask of the rows of ``frame`` that ``text`` selects; FilterError if not allowed."""
    columns: dict[str, str] = {}

    def placeholder(match: re.Match[str]) -> str:
        key = f"_col{len(columns)}_"
        columns[key] = match.group(1)
        return key

    if len(text) > MAX_LENGTH:
        raise FilterError(f"{len(text):,} characters; a filter has at most {MAX_LENGTH:,}")
    source = _BACKTICK.sub(placeholder, text)
    if "`" in source:
        raise FilterError("unbalanced backtick")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, RecursionError, MemoryError) as err:
        why = err.msg if isinstance(err, SyntaxError) else "nested too deeply"
        raise FilterError(f"not a filter expression: {why}") from None
    _check_size(tree.body)
    return _Evaluator(frame, columns).eval(tree.body).astype(bool)


def _check_size(root: ast.expr) -> None:
    """Refuse a tree deeper than MAX_DEPTH or with more than MAX_TERMS comparisons, walked
    without recursion so that the check itself cannot overflow the stack."""
    terms, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FilterError(f"nested more than {MAX_DEPTH} levels deep")
        terms += isinstance(node, ast.Compare)
        if terms > MAX_TERMS:
            raise FilterError(f"more than {MAX_TERMS} comparisons")
        if isinstance(node, (ast.BoolOp, ast.UnaryOp)):
            children = node.values if isinstance(node, ast.BoolOp) else [node.operand]
            stack += [(child, depth + 1) for child in children]


def apply_where(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows of ``frame`` selected by ``text``; errors name the ``--where`` flag."""
    try:
        return frame[row_mask(frame, text)]
    except FilterError as err:
        shown = text if len(text) <= 80 else f"{text[:60]}...({len(text):,} characters)"
        raise FilterError(f"--where {shown!r}: {err}") from None
