"""The spec is below the planner: `sweeps/spec` never imports the compute planner or the trial
expansion (not even for type hints), so the two never import each other again.

Read from the source (every import, those under TYPE_CHECKING and inside functions included),
since a circle hidden behind a lazy import still ties the two rooms together.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "sweeps" / "spec"
ALLOWED_FROM_PLAN = {"sweeps.plan.resources"}
"""The one planner module the spec reads: the `resources:` section's schema lives there."""


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_spec_modules_import_no_planner_module_but_resources():
    for path in sorted(SPEC.glob("*.py")):
        plan = {m for m in _imports(path) if m.startswith("sweeps.plan")}
        plan -= {m for m in plan if any(m.startswith(a) for a in ALLOWED_FROM_PLAN)}
        assert not plan, f"{path.name} imports {sorted(plan)}"


def test_the_compute_planner_reads_its_section_from_the_spec():
    imports = _imports(REPO / "sweeps" / "plan" / "compute.py")
    assert "sweeps.spec.compute_spec" in imports


def test_every_spec_module_stays_under_the_size_cap():
    for path in SPEC.glob("*.py"):
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 400, f"{path.name}: {lines} lines"
