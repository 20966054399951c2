"""Every column of trials.csv, curves.csv and points.csv is spelled once, in the contract.

Writers and readers import the names (contract.results, contract.metrics), so a renamed column
cannot leave one side reading a column nobody writes. This test reads every Python file of the
runner, the analysis and the trainers and fails on a string literal equal to a column name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from contract.results import CURVES_COLUMNS, POINTS_COLUMNS, TRIALS_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("sweeps", "analysis", "trainers")
COLUMNS = frozenset((*TRIALS_COLUMNS, *CURVES_COLUMNS, *POINTS_COLUMNS))

ALLOWED: dict[tuple[str, str], str] = {
    ("trainers/compile_auto.py", "done"): "a phase of the compile decision, no table's column",
    ("trainers/loop.py", "lr"): "the key of a torch optimizer's param group",
    ("trainers/method.py", "lr"): "AdamW's keyword argument",
    ("trainers/method.py", "params"): "the key of a torch optimizer's param group",
    ("trainers/loop.py", "step"): "a key of the checkpoint's resume state, not of a table",
    ("trainers/loop.py", "tokens"): "a key of the checkpoint's resume state, not of a table",
    ("trainers/method.py", "tokens"): "the unit word of a message (tokens or samples)",
    ("trainers/sampled.py", "tokens"): "the unit word of a message (tokens or samples)",
    ("analysis/laws/lr_rule.py", "lr"): "the rule's own frame (id, N, lr, loss): a run's optim.lr",
    ("sweeps/spec/compute_spec.py", "model.size"): "the trial-config path of a preset size",
    ("sweeps/tune/trainable.py", "trial_id"): "the id key of a Tune payload (PAYLOAD_ID)",
    ("sweeps/watch/fit_preview.py", "budget"): "a key of charts.json's parabola, read by the page",
    ("sweeps/watch/server.py", "done"): "a key of the page's progress JSON (trials done so far)",
    ("sweeps/watch/terminal.py", "done"): "a header of the terminal view (share of tokens done)",
    ("sweeps/watch/terminal.py", "tokens"): "a header of the terminal view",
    ("sweeps/watch/terminal.py", "train/loss"): "a header of the terminal view",
}
"""(file, literal) pairs that equal a column name but do not name a column."""


def column_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string constant in the file that equals a column name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value in COLUMNS
    )


@pytest.mark.parametrize("package", SCANNED)
def test_no_column_name_is_spelled_outside_the_contract(package: str) -> None:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        found += [
            f"{rel}:{line}: {text!r}"
            for line, text in column_literals(path)
            if (rel, text) not in ALLOWED
        ]
    assert not found, "import the column names from contract.results / contract.metrics:\n" + (
        "\n".join(found)
    )


def test_allowed_literals_are_still_there() -> None:
    stale = [
        pair
        for pair in ALLOWED
        if pair[1] not in {text for _, text in column_literals(ROOT / pair[0])}
    ]
    assert not stale, f"allowed but no longer present, remove from ALLOWED: {stale}"


def test_the_scan_finds_a_literal(tmp_path: Path) -> None:
    """The check would see a column spelled out (guards against a scan that finds nothing)."""
    sample = tmp_path / "sample.py"
    sample.write_text('row["trial_id"] = 1\nname = "not a column"\n', encoding="utf-8")
    assert column_literals(sample) == [(1, "trial_id")]
