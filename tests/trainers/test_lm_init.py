"""Continued pretraining: an LM (or MLM) run that starts from an upstream run's final weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contract.metrics import DONE, EVAL_LOSS, TOKENS
from models import ModelSpec
from trainers import lm, mlm
from trainers.checkpoint import load_state
from trainers.config import OptimConfig, TrialConfig
from trainers.lm import LMMethod
from trainers.mlm import MLMMethod
from trainers.reporter import Context, ListReporter
from trainers.tasks import LMTask

from .conftest import SEQ_LEN

CPU = torch.device("cpu")
UPSTREAM_STEPS = 40


def _train(cfg: TrialConfig, folder: Path, loop=lm.train) -> ListReporter:
    reporter = ListReporter()
    loop(cfg, reporter, Context(trial_dir=str(folder), num_threads=1))
    return reporter


@pytest.fixture(scope="module")
def upstream(make_task_cfg, tmp_path_factory) -> tuple[Path, ListReporter]:
    """A finished LM trial folder and its reports."""
    folder = tmp_path_factory.mktemp("lm-upstream")
    cfg = make_task_cfg({"type": "lm"}, steps=UPSTREAM_STEPS, eval_interval_steps=10)
    return folder, _train(cfg, folder)


def test_continued_run_starts_from_upstream_weights_and_trains_on(
    make_task_cfg, upstream, tmp_path
):
    folder, up = upstream
    task = {"type": "lm", "init_from": str(folder)}  # a trial folder means its final checkpoint
    # A lower peak lr than the upstream's 1e-2, as continued pretraining uses: re-warming to
    # the full rate would first undo part of the upstream's annealing.
    cfg = make_task_cfg(task, steps=20, optim=OptimConfig(lr=3e-3), eval_interval_steps=2)
    method = LMMethod(cfg, Context(), CPU)
    weights = load_state(folder / "checkpoints" / "final")["model"]
    built = method.build_model().state_dict()
    assert all(torch.equal(built[k], weights[k]) for k in weights)

    fresh = _train(make_task_cfg({"type": "lm"}, steps=2, eval_interval_steps=2), tmp_path / "f")
    reports = _train(cfg, tmp_path / "continued").reports
    up_final, fresh_first = up.reports[-1][EVAL_LOSS], fresh.reports[0][EVAL_LOSS]
    first = reports[0][EVAL_LOSS]
    # After two steps, a fresh model is still near uniform; the continued one is where its
    # upstream ended.
    assert abs(first - up_final) < 0.03
    assert fresh_first - first > 0.5
    # Its own budget and schedule: tokens count from zero, and it improves on its upstream.
    assert reports[-1][DONE] == 1.0 and reports[-1][TOKENS] == 20 * cfg.tokens_per_step()
    assert reports[-1][EVAL_LOSS] < up_final


def test_init_from_a_different_model_names_the_field(make_task_cfg, upstream, tmp_path):
    folder, _ = upstream
    wider = ModelSpec(size="gpt-20k", d_model=64, n_layers=1, n_heads=2, d_ff=64, seq_len=SEQ_LEN)
    cfg = make_task_cfg({"type": "lm", "init_from": str(folder)}, steps=1, model=wider)
    with pytest.raises(ValueError, match=r"task\.init_from: .* different model .*size mismatch"):
        LMMethod(cfg, Context(), CPU).build_model()
    missing = make_task_cfg({"type": "lm", "init_from": str(tmp_path / "nowhere")}, steps=1)
    with pytest.raises(FileNotFoundError, match=r"task\.init_from: .*nowhere holds neither"):
        lm.train(missing, ListReporter(), Context(trial_dir=str(tmp_path), num_threads=1))


def test_an_lm_cannot_continue_an_mlm_checkpoint(make_task_cfg, tmp_path):
    mlm_cfg = make_task_cfg({"type": "mlm"}, steps=2, eval_interval_steps=2)
    _train(mlm_cfg, tmp_path / "mlm", loop=mlm.train)
    final = tmp_path / "mlm" / "checkpoints" / "final"
    again = make_task_cfg({"type": "mlm", "init_from": str(final)}, steps=1)
    built = MLMMethod(again, Context(), CPU).build_model().state_dict()
    assert torch.equal(built["tok_emb.weight"], load_state(final)["model"]["tok_emb.weight"])
    as_lm = make_task_cfg({"type": "lm", "init_from": str(final)}, steps=1)
    with pytest.raises(ValueError, match=r"task\.init_from: .*tok_emb\.weight"):
        LMMethod(as_lm, Context(), CPU).build_model()


def test_init_from_is_absolute_and_absent_from_configs_without_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert LMTask(init_from="up/trial").init_from == str(tmp_path / "up" / "trial")
    # Configs that never set it serialise as before, so existing trial ids stay the same.
    assert LMTask().model_dump(mode="json") == {"type": "lm"}
    assert "init_from" in LMTask(init_from="x").model_dump(mode="json")
