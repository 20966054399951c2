"""Classification fine-tuning: learning, init_from an upstream checkpoint, frozen backbones,
LoRA, EMA evaluation and resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from contract.metrics import (
    DONE,
    EVAL_ACCURACY,
    EVAL_LOSS,
    PARAMS,
    STANDARD_METRICS,
    STEP,
    TRAIN_LOSS,
)
from models import count_params
from trainers import lm, mlm
from trainers.checkpoint import load_state
from trainers.classify import ClassifyMethod, train
from trainers.ema import EMA
from trainers.method import eval_mode
from trainers.reporter import Context, ListReporter

from .conftest import VOCAB_SIZE
from .test_lm import CrashAfter

CPU = torch.device("cpu")
EASY = {"type": "classify", "num_sequences": 1024, "separation": 1.0}
"""Four unrelated sources: learnable in tens of steps."""


def _upstream(make_task_cfg, folder: Path, task: str) -> Path:
    cfg = make_task_cfg({"type": task}, steps=20, eval_interval_steps=20)
    loop = lm.train if task == "lm" else mlm.train
    loop(cfg, ListReporter(), Context(trial_dir=str(folder), num_threads=1))
    return folder / "checkpoints" / "final"


@pytest.fixture(scope="module")
def lm_upstream(make_task_cfg, tmp_path_factory) -> Path:
    return _upstream(make_task_cfg, tmp_path_factory.mktemp("lm-up"), "lm")


@pytest.fixture(scope="module")
def mlm_upstream(make_task_cfg, tmp_path_factory) -> Path:
    return _upstream(make_task_cfg, tmp_path_factory.mktemp("mlm-up"), "mlm")


def _run(cfg, folder: Path, reporter: ListReporter | None = None) -> dict[str, float]:
    return train(cfg, reporter or ListReporter(), Context(trial_dir=str(folder), num_threads=1))


def _upstream_backbone(folder: Path) -> dict[str, torch.Tensor]:
    weights = load_state(folder)["model"]
    return {k: v for k, v in weights.items() if not k.startswith("lm_head.")}


def test_classify_learns_above_chance_and_reports_accuracy(make_task_cfg, tmp_path):
    cfg = make_task_cfg(EASY, steps=80, batch_size=16, eval_interval_steps=20)
    reporter = ListReporter()
    final = _run(cfg, tmp_path, reporter)
    for report in reporter.reports:
        assert set(STANDARD_METRICS) | {EVAL_ACCURACY} <= set(report)
        assert all(math.isfinite(report[k]) for k in STANDARD_METRICS)
    first = reporter.reports[0]
    assert final[EVAL_LOSS] < first[EVAL_LOSS] and final[TRAIN_LOSS] < first[TRAIN_LOSS]
    assert final[EVAL_ACCURACY] > 0.5  # chance is 0.25
    assert final[DONE] == 1.0


def test_counts_describe_the_built_model(make_task_cfg):
    cfg = make_task_cfg({**EASY, "num_classes": 3}, steps=1)
    method = ClassifyMethod(cfg, Context(), CPU)
    model = method.build_model()
    counts = method.counts(model)
    assert counts.params_total == sum(p.numel() for p in model.parameters())
    assert counts.params == counts.params_total - VOCAB_SIZE * cfg.model_config_resolved().d_model
    assert model(torch.zeros(2, 32, dtype=torch.long)).shape == (2, 3)


def test_init_from_loads_an_mlm_backbone_as_an_encoder(make_task_cfg, mlm_upstream):
    # The trial folder works as well as its checkpoints/final.
    cfg = make_task_cfg({**EASY, "init_from": str(mlm_upstream.parents[1])}, steps=1)
    method = ClassifyMethod(cfg, Context(), CPU)
    assert method.backbone_cfg.causal is False
    assert method.backbone_cfg.vocab_size == VOCAB_SIZE + 1  # the [MASK] row
    model = method.build_model()
    ours = model.backbone.state_dict()
    theirs = _upstream_backbone(mlm_upstream)
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_freeze_backbone_leaves_it_bit_identical(make_task_cfg, lm_upstream, tmp_path):
    task = {**EASY, "init_from": str(lm_upstream), "freeze_backbone": True}
    final = _run(make_task_cfg(task, steps=10, eval_interval_steps=5), tmp_path)
    state = load_state(tmp_path / "checkpoints" / "final")["model"]
    theirs = _upstream_backbone(lm_upstream)
    assert all(torch.equal(state[f"backbone.{k}"], v) for k, v in theirs.items())
    assert state["head.proj.weight"].abs().sum() > 0  # the head (zero at start) trained
    assert final[EVAL_LOSS] < math.log(4)  # the zero-initialised head scores exactly log(4)


def test_lora_trains_only_the_adapters_and_the_head(make_task_cfg, lm_upstream, tmp_path):
    lora = {"rank": 4, "alpha": 8, "target_modules": ["wq", "wv"]}
    cfg = make_task_cfg({**EASY, "init_from": str(lm_upstream), "lora": lora}, steps=10)
    method = ClassifyMethod(cfg, Context(), CPU)
    trainable = {n for n, p in method.build_model().named_parameters() if p.requires_grad}
    assert trainable == {
        "backbone.blocks.0.attn.wq.lora_a",
        "backbone.blocks.0.attn.wq.lora_b",
        "backbone.blocks.0.attn.wv.lora_a",
        "backbone.blocks.0.attn.wv.lora_b",
        "head.proj.weight",
        "head.proj.bias",
    }
    final = _run(cfg, tmp_path)
    state = load_state(tmp_path / "checkpoints" / "final")["model"]
    theirs = _upstream_backbone(lm_upstream)
    for key, value in state.items():
        if key.startswith("backbone.") and ".lora_" not in key:
            upstream_key = key.removeprefix("backbone.").replace(".base.", ".")
            assert torch.equal(value, theirs[upstream_key]), key
    assert state["backbone.blocks.0.attn.wq.lora_b"].abs().sum() > 0  # B starts at zero
    assert final[EVAL_LOSS] < math.log(4)
    assert final[PARAMS] == count_params(method.build_model(), exclude=("backbone.tok_emb.",))


@pytest.fixture(scope="module")
def ema_run(make_task_cfg, tmp_path_factory):
    cfg = make_task_cfg({**EASY, "ema_decay": 0.9}, steps=20, eval_interval_steps=10)
    folder = tmp_path_factory.mktemp("ema")
    return cfg, _run(cfg, folder), folder


def test_ema_weights_are_what_evaluation_scores(ema_run):
    cfg, final, folder = ema_run
    state = load_state(folder / "checkpoints" / "final")
    method = ClassifyMethod(cfg, Context(), CPU)
    model = method.build_model()
    model.load_state_dict(state["model"])
    ema = EMA(model, 0.9)
    ema.load_state_dict(state["ema"])
    raw = dict(model.named_parameters())
    assert any(not torch.equal(raw[n], s) for n, s in state["ema"]["shadow"].items())
    with eval_mode(model, ema):
        with_ema = method.evaluate(model)[EVAL_LOSS]
    with eval_mode(model, None):
        without = method.evaluate(model)[EVAL_LOSS]
    assert with_ema == pytest.approx(final[EVAL_LOSS], rel=1e-6)
    assert abs(without - final[EVAL_LOSS]) > 1e-4


def test_ema_run_resumes_exactly(ema_run, tmp_path):
    cfg, full_final, full_dir = ema_run
    ctx = Context(trial_dir=str(tmp_path), num_threads=1)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, CrashAfter(reports=1), ctx)
    resumed = ListReporter(resume_from=str(tmp_path / "checkpoints" / "latest"))
    final = train(cfg, resumed, ctx)
    assert [r[STEP] for r in resumed.reports] == [20]
    assert final[EVAL_LOSS] == full_final[EVAL_LOSS]
    assert final[EVAL_ACCURACY] == full_final[EVAL_ACCURACY]
    ours, theirs = (load_state(d / "checkpoints" / "final") for d in (tmp_path, full_dir))
    assert all(torch.equal(ours["model"][k], v) for k, v in theirs["model"].items())
    assert all(torch.equal(ours["ema"]["shadow"][k], v) for k, v in theirs["ema"]["shadow"].items())


def test_init_from_mistakes_name_the_field(make_task_cfg, lm_upstream, tmp_path):
    missing = make_task_cfg({**EASY, "init_from": str(tmp_path / "nowhere")}, steps=1)
    with pytest.raises(FileNotFoundError, match="task.init_from: .*nowhere holds neither"):
        ClassifyMethod(missing, Context(), CPU)
    wider = make_task_cfg({**EASY, "init_from": str(lm_upstream)}, steps=1)
    wider = wider.model_copy(update={"model": wider.model.model_copy(update={"d_ff": 96})})
    with pytest.raises(ValueError, match="task.init_from: .* does not fit a gpt-20k backbone"):
        ClassifyMethod(wider, Context(), CPU).build_model()
