"""Optuna as its users know it: samplers by name, the study in a journal file that
optuna-dashboard opens, multi-objective search with NSGA-II."""

from __future__ import annotations

import pickle
from pathlib import Path

import optuna
import pytest

from sweeps.cli import main
from sweeps.tune.optuna_study import JOURNAL_FILE, STUDY_NAME, journal_storage, make_sampler

SPEC = """\
name: multi
model: {size: {choice: [gpt-10k, gpt-20k]}, seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 60000}}
optim: {lr: {loguniform: [1.0e-3, 1.0e-2]}}
trainer: {batch_size: 8, max_tokens: 4096, eval_interval_steps: 8, eval_tokens: 1024}
search: {algorithm: optuna, sampler: nsga2, num_samples: 3,
         metric: [eval/loss, flops], mode: [min, min]}
"""


@pytest.mark.parametrize(
    "name, cls",
    [
        (None, optuna.samplers.TPESampler),
        ("tpe", optuna.samplers.TPESampler),
        ("cmaes", optuna.samplers.CmaEsSampler),
        ("gp", optuna.samplers.GPSampler),
        ("qmc", optuna.samplers.QMCSampler),
        ("random", optuna.samplers.RandomSampler),
        ("nsga2", optuna.samplers.NSGAIISampler),
    ],
)
def test_sampler_by_name(name, cls):
    assert isinstance(make_sampler(name, seed=0), cls)


@pytest.mark.parametrize("name", [None, "tpe", "cmaes", "gp", "qmc", "random", "nsga2"])
def test_every_sampler_survives_the_pickling_ray_tune_does(name):
    """Tune pickles the searcher with the tuner; Optuna 5.1's NSGA-II holds a thread lock."""
    sampler = make_sampler(name, seed=0)
    copy = pickle.loads(pickle.dumps(sampler))
    assert type(copy) is type(sampler)
    study = optuna.create_study(sampler=copy)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), 3)
    assert len(study.trials) == 3


@pytest.mark.parametrize(
    "search, message",
    [
        ("{sampler: tpe}", "search.sampler: needs search.algorithm: optuna"),
        ("{metric: [eval/loss, flops], mode: [min, min]}", "several metrics need algorithm"),
        (
            "{algorithm: optuna, sampler: cmaes, metric: [eval/loss, flops], mode: [min, min]}",
            "search.sampler: cmaes optimises one metric",
        ),
        (
            "{algorithm: optuna, metric: [eval/loss, flops], mode: [min, min], scheduler: asha}",
            "search.scheduler: asha ranks trials by one metric",
        ),
        ("{algorithm: optuna, metric: [eval/loss, flops], mode: [min]}", "search"),
        ("{algorithm: optuna, sampler: anneal}", "search.sampler"),
    ],
)
def test_search_options_that_cannot_work_are_one_line_errors(tmp_path, capsys, search, message):
    spec = tmp_path / "bad.yaml"
    text = SPEC.replace("model: {size: {choice: [gpt-10k, gpt-20k]}", "model: {size: gpt-10k")
    text = text.replace("optim: {lr: {loguniform: [1.0e-3, 1.0e-2]}}", "optim: {lr: 1.0e-3}")
    spec.write_text(text.split("search:")[0] + f"search: {search}\n")
    assert main([str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.ray
def test_multi_objective_study_in_a_journal_the_dashboard_opens(ray_session, tmp_path: Path):
    spec = tmp_path / "multi.yaml"
    spec.write_text(SPEC)
    assert main([str(spec), "--storage", str(tmp_path)]) == 0
    journal = tmp_path / "multi" / JOURNAL_FILE
    assert journal.is_file()
    # What optuna-dashboard does with a journal file: open the storage, list the studies.
    storage = journal_storage(tmp_path / "multi")
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary.study_name == STUDY_NAME
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE] * 2
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3
    for trial in done:
        loss, flops = trial.values
        assert 0 < loss < 10 and flops > 0
        assert {"model.size", "optim.lr"} <= set(trial.params)
    assert study.best_trials  # the Pareto front
