"""Dependencies point one way, and the contract stays importable anywhere.

The ground floor is `contract` (the shared vocabulary), then `models` and `data`, then
`trainers`, then `rl`; `analysis` depends only on the contract so it runs on a laptop with
neither torch nor Ray; `sweeps` sits on top (its live page fits through analysis's Python API).
Every import statement is checked, function-local ones too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("contract", "models", "data", "trainers", "rl", "sweeps", "analysis")
MAY_IMPORT: dict[str, set[str]] = {
    "contract": set(),
    "models": {"contract"},
    "data": {"contract"},
    "trainers": {"contract", "models", "data"},
    "rl": {"contract", "models", "data", "trainers"},
    "sweeps": {"contract", "models", "data", "trainers", "rl", "analysis"},
    "analysis": {"contract"},
}
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "contract": {"torch", "ray", "numpy", "pandas"},
    "models": {"ray"},
    "data": {"ray"},
    "analysis": {"ray", "torch"},
}


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every absolute import in a file."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", OURS)
def test_imports_point_down(package: str) -> None:
    allowed = MAY_IMPORT[package] | {package}
    forbidden = FORBIDDEN_THIRD_PARTY.get(package, set())
    for path in sorted((ROOT / package).rglob("*.py")):
        roots = imported_roots(path)
        upward = (roots & set(OURS)) - allowed
        assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)} (above {package})"
        heavy = roots & forbidden
        assert not heavy, f"{path.relative_to(ROOT)} imports {sorted(heavy)}"


def test_every_package_has_a_layer() -> None:
    found = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert found == set(OURS), "a new top-level package needs a place in MAY_IMPORT"


RAY_EDGES: dict[str, set[str]] = {
    "ray.tune": {
        "sweeps/tune/runner.py",
        "sweeps/tune/trainable.py",
        "sweeps/tune/events.py",
        "sweeps/tune/trackers.py",
        "sweeps/spec/space.py",  # the one conversion of the search space to Tune's samplers
    },
    "ray.train": {"trainers/ray_worker.py", "sweeps/tune/events.py"},
}


def _ray_modules(path: Path) -> set[str]:
    """`ray.tune` / `ray.train` for every import of them (or of their names from `ray`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            found |= {edge for edge in RAY_EDGES if name == edge or name.startswith(edge + ".")}
    return found


def test_ray_tune_and_train_stay_at_their_edges() -> None:
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            for edge in _ray_modules(path):
                assert rel in RAY_EDGES[edge], f"{rel} imports {edge}; only {RAY_EDGES[edge]}"
