"""Pipelines: pretrain -> fine-tune stages in one sweep folder, through real Ray."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.fit_scaling import main as fit_main
from sweeps.cli import main
from sweeps.errors import SpecError
from sweeps.stages.pipeline import load_pipeline

PIPELINE = {
    "name": "pipe",
    "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "order": 1, "num_tokens": 50_000}},
    "model": {"seq_len": 32},
    "trainer": {"batch_size": 8, "eval_tokens": 2048},
    "stages": [
        {
            "name": "pretrain",
            "model": {"size": {"grid": ["gpt-10k", "gpt-20k", "gpt-50k"]}},
            "task": {"type": "mlm"},
            "trainer": {"max_tokens": 8192, "eval_interval_steps": 16},
        },
        {
            "name": "finetune",
            "from": {"stage": "pretrain", "select": "all"},
            "task": {"type": "classify", "num_classes": 2, "num_sequences": 512},
            "trainer": {"max_tokens": 8192, "eval_interval_steps": 16},
            "search": {"metric": "eval/accuracy", "mode": "max"},
        },
    ],
}


def test_stage_links_are_validated(tmp_path: Path):
    bad = dict(PIPELINE, stages=[PIPELINE["stages"][1]])
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(SpecError, match="not an earlier stage"):
        load_pipeline(path)
    lm_from = dict(
        PIPELINE, stages=[PIPELINE["stages"][0], {**PIPELINE["stages"][1], "task": {"type": "lm"}}]
    )
    path.write_text(yaml.safe_dump(lm_from))
    with pytest.raises(SpecError, match="cannot start from a checkpoint"):
        load_pipeline(path)


@pytest.mark.ray
def test_pipeline_runs_stages_in_order_and_links_rows(ray_session, tmp_path: Path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(PIPELINE))
    assert main([str(path), "--storage", str(tmp_path)]) == 0
    trials = pd.read_csv(tmp_path / "pipe" / "trials.csv")
    pre = trials[trials.stage == "pretrain"]
    fine = trials[trials.stage == "finetune"]
    assert len(pre) == 3 and len(fine) == 3
    assert set(trials["status"]) == {"TERMINATED"}
    assert set(fine["upstream.trial_id"]) == set(pre["trial_id"])
    by_up = fine.set_index("upstream.trial_id")
    for _, row in pre.iterrows():
        assert by_up.loc[row.trial_id, "upstream.params"] == row.params
        assert by_up.loc[row.trial_id, "upstream.model.size"] == row["model.size"]
    assert fine["eval/accuracy"].between(0, 1).all()

    capsys.readouterr()
    assert main([str(path), "--storage", str(tmp_path), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "0 trials to run, 3 already done" in out and out.count("already done") == 2

    status = fit_main(
        [
            str(tmp_path / "pipe"),
            "--where",
            "stage == 'finetune'",
            "--columns",
            "N=upstream.params,loss=eval/loss",
            "--law",
            "power",
            "--bootstrap",
            "50",
        ]
    )
    assert status == 0
    assert "power" in capsys.readouterr().out
