"""The analysis package stays Ray-free and exposes its API at the top level."""

from __future__ import annotations

import ast
from pathlib import Path

import analysis

PACKAGE = Path(analysis.__file__).parent


def test_no_module_imports_ray():
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n == "ray" or n.startswith("ray.") for n in names), path.name


def test_public_api_is_importable():
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None
