"""Continued pretraining: `sweeps.new --continue` turns a finished sweep folder into a pipeline
whose trials train each upstream trial on from its final checkpoint (from: {sweep: ...})."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from contract.metrics import EVAL_LOSS, TOKENS
from contract.results import (
    CONFIG_FILE,
    FINISHED,
    TRIALS_DIR,
    TrialRecord,
    write_trial_record,
)
from sweeps.cli import main as run_main
from sweeps.errors import SpecError
from sweeps.folder.sweep_dir import open_sweep_dir
from sweeps.folder.tables import ResultTables
from sweeps.new import main as new_main
from sweeps.plan.trials import make_plan
from sweeps.spec.sweep_spec import spec_from_dict
from sweeps.stages.pipeline import (
    StageSource,
    estimate_plan,
    linked_plan,
    load_pipeline,
    pipeline_from_dict,
)
from trainers import lm
from trainers.reporter import Context, ListReporter

MAX_TOKENS = 4096
SWEEP = {
    "name": "base",
    "model": {"size": "gpt-10k", "seq_len": 32},
    "data": {
        "dataset": {"type": "synthetic", "vocab_size": 16, "order": 1, "num_tokens": 40_000},
        "fraction": {"grid": [0.5, 1.0]},
    },
    "optim": {"lr": 1.0e-2},
    "trainer": {"batch_size": 8, "max_tokens": MAX_TOKENS, "eval_interval_steps": 4},
    "search": {"metric": EVAL_LOSS, "mode": "min"},
}


def _finished_sweep(storage: Path) -> Path:
    """Run SWEEP's 2 trials without Ray and lay out their folder as the runner does."""
    spec = spec_from_dict(SWEEP, source="base.yaml")
    sweep_dir = open_sweep_dir(spec, str(storage), resume=False, force=False)
    tables = ResultTables(sweep_dir, spec.search.metric, spec.search.mode)
    for point in make_plan(spec).trials:
        trial_dir = sweep_dir / "trials" / point.dirname
        trial_dir.mkdir(parents=True)
        record = TrialRecord(
            trial_id=point.trial_id,
            assignment=point.assignment,
            config=point.config.model_dump(mode="json"),
            resources=point.resources.model_dump(mode="json"),
        )
        write_trial_record(trial_dir, record)
        tables.trial_started(point)
        reporter = ListReporter()
        lm.train(point.config, reporter, Context(trial_dir=str(trial_dir), num_threads=1))
        for metrics in reporter.reports:
            tables.trial_reported(point.trial_id, metrics)
        tables.trial_ended(point.trial_id, FINISHED)
    return sweep_dir


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    return _finished_sweep(tmp_path_factory.mktemp("storage"))


def test_continue_writes_a_pipeline_that_loads_and_dry_runs(finished, tmp_path, capsys):
    out = tmp_path / "more.yaml"
    assert new_main(["more", "--continue", str(finished), "--out", str(out)]) == 0
    assert f"python -m sweeps.run {out}" in capsys.readouterr().out
    pipeline = load_pipeline(out)
    (stage,) = pipeline.stages
    assert stage.source.sweep == str(finished) and stage.source.inherit
    assert pipeline.run.storage == str(finished.parent)
    upstream = pd.read_csv(finished / "trials.csv")
    budget = 2 * int(upstream[TOKENS].max())
    assert stage.spec.base.trainer.max_tokens == budget

    plan = linked_plan(stage, pipeline.stages, [], tmp_path)
    assert len(plan.trials) == 2
    by_id = upstream.set_index("trial_id")
    for trial in plan.trials:
        up_id = trial.upstream["upstream.trial_id"]
        (up_dir,) = (finished / "trials").glob(f"*-{up_id}")
        up_cfg = json.loads((up_dir / "config.json").read_text())["config"]
        # Same model and swept values as its upstream, its own budget, from its final weights.
        assert trial.config.model.model_dump(mode="json") == up_cfg["model"]
        assert trial.config.data.fraction == by_id.loc[up_id, "data.fraction"]
        assert trial.config.task.init_from == str(up_dir / "checkpoints" / "final")
        assert trial.tokens == budget > by_id.loc[up_id, TOKENS]

    assert run_main([str(out), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "2 trials" in dry and all(i in dry for i in upstream["trial_id"])
    assert len(estimate_plan(stage, None).trials) == 2


def test_budget_options(finished, tmp_path):
    most = int(pd.read_csv(finished / "trials.csv")[TOKENS].max())
    for args, budget in ((["--tokens", "10000"], 10000), (["--more-tokens-factor", "3"], 3 * most)):
        out = tmp_path / f"b{budget}.yaml"
        assert new_main(["cont", "--continue", str(finished), "--out", str(out), *args]) == 0
        assert load_pipeline(out).stages[0].spec.base.trainer.max_tokens == budget


def test_continue_mistakes_are_one_line_errors(finished, tmp_path, capsys):
    out = str(tmp_path / "x.yaml")
    assert new_main(["x", "--continue", str(tmp_path / "nowhere"), "--out", out]) == 2
    assert new_main(["base", "--continue", str(finished), "--out", out]) == 2
    assert new_main(["x", "--from", "sweeps/smoke.yaml", "--tokens", "5", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "--continue: " in err and "nowhere is not a folder" in err
    assert "a name of its own" in err and "only with --continue" in err

    stage = {"name": "c", "from": {"sweep": str(tmp_path)}, "task": {"type": "lm"}}
    spec = tmp_path / "c.yaml"
    spec.write_text(yaml.safe_dump({"name": "c", "stages": [stage]}))
    with pytest.raises(SpecError, match=r"stages\[0\]\.from\.sweep: .* has no trials\.csv"):
        load_pipeline(spec)
    both = {**stage, "from": {"sweep": str(finished), "stage": "pre"}}
    spec.write_text(yaml.safe_dump({"name": "c", "stages": [both]}))
    with pytest.raises(SpecError, match=r"stages\[0\]\.from: .*exactly one of stage"):
        load_pipeline(spec)
    as_mlm = {**stage, "from": {"sweep": str(finished)}, "task": {"type": "mlm"}}
    spec.write_text(yaml.safe_dump({"name": "c", "stages": [as_mlm]}))
    with pytest.raises(SpecError, match=r"mlm cannot start from a checkpoint of a lm task"):
        load_pipeline(spec)


def test_continue_from_a_damaged_trial_record_is_one_line(finished, tmp_path, capsys):
    folder = tmp_path / "base"
    shutil.copytree(finished, folder)
    next((folder / TRIALS_DIR).glob(f"*/{CONFIG_FILE}")).write_text("{not json")
    assert new_main(["cont", "--continue", str(folder), "--out", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"{CONFIG_FILE}: not a trial record (line 1" in err and "Traceback" not in err


def test_a_stage_from_a_damaged_trial_record_is_one_line(finished, tmp_path, capsys):
    # The stage reads each upstream record through contract.results.read_trial_record: a record
    # damaged after the pipeline was written stops its plan with the stage and the file named.
    folder = tmp_path / "base"
    shutil.copytree(finished, folder)
    out = tmp_path / "cont.yaml"
    assert new_main(["cont", "--continue", str(folder), "--out", str(out)]) == 0
    next((folder / TRIALS_DIR).glob(f"*/{CONFIG_FILE}")).write_text("[]")
    capsys.readouterr()
    assert run_main([str(out), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"stage continue: {folder}" in err and f"{CONFIG_FILE}: not a trial record" in err
    assert "Traceback" not in err


def test_a_pipeline_fingerprint_reads_its_sources_as_json_of_what_was_set():
    # PipelineSpec.fingerprint hashes each source's model_dump_json of the fields away from
    # their defaults: a restated default, or a field added later with a default, changes
    # nothing, and any real change to where a stage starts from does.
    def pipeline(source: dict) -> str:
        raw = {"name": "p", **{k: v for k, v in SWEEP.items() if k != "name"}}
        stages = [{"name": "pre"}, {"name": "ft", "from": source}]
        return pipeline_from_dict({**raw, "stages": stages}, source="p.yaml").fingerprint()

    plain = pipeline({"stage": "pre"})
    assert pipeline({"stage": "pre", "select": "all", "inherit": False}) == plain
    assert pipeline({"stage": "pre", "select": "best"}) != plain
    assert pipeline({"stage": "pre", "checkpoint": "best"}) != plain
    assert StageSource(stage="pre").model_dump_json(exclude_defaults=True) == '{"stage":"pre"}'


@pytest.mark.ray
def test_continued_sweep_trains_on_from_its_upstream_through_ray(ray_session, tmp_path, capsys):
    spec = tmp_path / "base.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    assert run_main([str(spec), "--storage", str(tmp_path)]) == 0
    out = tmp_path / "more.yaml"
    assert new_main(["more", "--continue", str(tmp_path / "base"), "--out", str(out)]) == 0
    assert run_main([str(out)]) == 0  # run.storage puts it next to its upstream

    up = pd.read_csv(tmp_path / "base" / "trials.csv").set_index("trial_id")
    rows = pd.read_csv(tmp_path / "more" / "trials.csv")
    assert len(rows) == 2 and set(rows["status"]) == {FINISHED}
    assert set(rows["upstream.trial_id"]) == set(up.index)
    up_curves = pd.read_csv(tmp_path / "base" / "curves.csv").groupby("trial_id").first()
    curves = pd.read_csv(tmp_path / "more" / "curves.csv").groupby("trial_id").first()
    for _, row in rows.iterrows():
        up_id = row["upstream.trial_id"]
        assert row[TOKENS] > up.loc[up_id, TOKENS]
        assert row["data.fraction"] == up.loc[up_id, "data.fraction"]
        # The first evaluation starts from where the upstream ended (a short upstream keeps
        # improving fast), far below where the upstream began.
        first, up_first = curves.loc[row.trial_id, EVAL_LOSS], up_curves.loc[up_id, EVAL_LOSS]
        assert first < up_first - 0.3
        assert first < up.loc[up_id, EVAL_LOSS] + 0.05
