"""Planned counts, reported counts and the analysis's C are one number for every model family:
the planner, the trainers and the analysis share the one definition of training compute."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis.load.sweep_tables import load_scaling_data
from contract.metrics import EVAL_LOSS, FLOPS, PARAMS, PARAMS_TOTAL, TOKENS
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import spec_from_dict
from trainers import ListReporter, get_trainer
from trainers.reporter import Context

DATA = {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 20_000}}
CASES = {
    "gpt-lm": {"model": {"size": "gpt-10k"}, "data": DATA},
    "mlp-regression": {"model": {"size": "mlp-1k"}, "task": {"type": "regression"}},
    "gpt-classify-lora": {
        "model": {"size": "gpt-10k"},
        "data": DATA,
        "task": {
            "type": "classify",
            "num_classes": 3,
            "num_sequences": 256,
            "lora": {"rank": 2, "target_modules": ["wq", "down"]},
        },
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_planned_reported_and_fitted_compute_agree(case: str, tmp_path: Path) -> None:
    raw = {
        "name": "t",
        **CASES[case],
        "trainer": {"batch_size": 4, "max_tokens": 8 * 4 * 128, "eval_tokens": 512},
    }
    point = make_plan(spec_from_dict(raw, source="<test>")).trials[0]
    final = get_trainer(point.config.task.type)(point.config, ListReporter(), Context())
    assert final[TOKENS] == point.tokens
    assert (final[PARAMS], final[PARAMS_TOTAL]) == (point.params, point.params_total)
    assert final[FLOPS] == pytest.approx(point.flops, rel=1e-12)
    table = tmp_path / "trials.csv"
    row = {k: final[k] for k in (PARAMS, TOKENS, FLOPS)}
    pd.DataFrame([{**row, EVAL_LOSS: final[EVAL_LOSS]}] * 2).to_csv(table, index=False)
    data = load_scaling_data(table)
    assert data.points["C"].iloc[0] == pytest.approx(point.flops, rel=1e-12)
