"""The dry-run runs every check a trial runs at its start: a spec it passes can start."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.cli import main
from sweeps.plan.start_checks import TRAIN_BYTES_PER_PARAM, check_startable
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import load_spec

PLAIN = """\
name: plain
model: {size: gpt-10k, seq_len: 32}
data:
  dataset: {type: synthetic, vocab_size: 16, num_tokens: 60000}
trainer: {batch_size: 8, max_tokens: 8192, eval_tokens: 1024}
"""
COMPUTE = """\
name: budgets
compute: {budgets: [2.0e+10], sizes: [1.0e+4, 3.0e+4], min_steps: 20}
model: {seq_len: 64}
data: {dataset: {type: synthetic, vocab_size: 32, num_tokens: 1000000}}
trainer: {batch_size: 8, eval_tokens: 4096}
"""


def _dry_run(tmp_path: Path, capsys, text: str, *overrides: str) -> tuple[int, str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    argv = [str(path), "--dry-run"]
    for item in overrides:
        argv += ["--set", item]
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "override", "expected"),
    [
        (
            PLAIN,
            "optim={lr: 3.0e-3, schedule: wsd, warmup_fraction: 0.0, cooldowns: [0.001, 0.002, 1.0]}",
            "optim.cooldowns: a run of 32 steps is too short for a cooldown at 0.001",
        ),
        (
            PLAIN,
            "optim={lr: 3.0e-3, schedule: wsd, cooldowns: [0.1, 0.11, 1.0]}",
            "optim.cooldowns: a run of 32 steps is too short for a cooldown at 0.1",
        ),
        (PLAIN, "model={params: 1.0e+13, seq_len: 32}", "model.params: gpt-n1e+04g"),
        (COMPUTE, "compute.budgets=[1.0]", "the plan has no trials (left out C=1 x"),
        (COMPUTE, "compute.sizes=[1.0e+13]", "the plan has no trials"),
    ],
)
def test_specs_that_cannot_start_fail_the_dry_run(tmp_path, capsys, text, override, expected):
    code, err = _dry_run(tmp_path, capsys, text, override)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_memory_bound_is_against_the_node(tmp_path: Path):
    path = tmp_path / "spec.yaml"
    path.write_text(PLAIN)
    plan = make_plan(load_spec(path))
    need = TRAIN_BYTES_PER_PARAM * plan.trials[0].params_total
    check_startable(plan, need)  # exactly enough
    with pytest.raises(Exception, match="needs at least"):
        check_startable(plan, need - 1)
    check_startable(plan, None)  # a cluster's nodes are not visible here: not checked


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ("{auto: {per_budget: 0}}", "compute.sizes.auto.per_budget: Input should be greater"),
        ("{auto: {per_budgt: 3}}", "compute.sizes.auto.per_budgt: unknown key"),
        ("{auto: {tokens_per_param: [5, 1]}}", "compute.sizes.auto.tokens_per_param: must be"),
    ],
)
def test_auto_sizes_mistakes_name_the_auto_key(tmp_path, capsys, sizes, expected):
    code, err = _dry_run(tmp_path, capsys, COMPUTE, f"compute.sizes={sizes}")
    assert code == 2 and expected in err, err
    assert "union" not in err and "more problem" not in err
