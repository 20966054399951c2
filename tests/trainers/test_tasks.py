"""The task section of TrialConfig: the one task registry, model families, and the per-task
model resolution and training-split sizes the planner uses."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from data import DataConfig, count_train_tokens
from data.samples import split_samples
from models import ModelSpec
from trainers.config import TrainerConfig, TrialConfig
from trainers.tasks import TASKS, ClassifyTask, DiffusionTask, LMTask, MLMTask

MLP = {"size": "mlp-1k"}


def test_every_task_is_registered_with_its_family():
    assert sorted(TASKS) == ["classify", "diffusion", "lm", "mlm", "regression"]
    assert {name: cls.family for name, cls in TASKS.items()} == {
        "lm": "gpt",
        "mlm": "gpt",
        "classify": "gpt",
        "regression": "mlp",
        "diffusion": "mlp",
    }


def test_default_is_lm_and_unchanged_dumps_stay_minimal():
    cfg = TrialConfig()
    assert cfg.task == LMTask()
    assert "task" not in cfg.model_dump(exclude_unset=True)


@pytest.mark.parametrize("raw", [{"task": {"type": "mlm"}}, {"task": {}}, {}])
def test_task_type_alone_names_the_method(raw):
    cfg = TrialConfig.model_validate(raw)
    assert cfg.task.type == raw.get("task", {}).get("type", "lm")
    assert "task" not in TrainerConfig.model_fields
    # A dump of what was set validates back to the same config (sweep axes rely on it).
    assert TrialConfig.model_validate(cfg.model_dump(exclude_unset=True)) == cfg


def test_python_construction_keeps_both_sections():
    cfg = TrialConfig(task=MLMTask(mask_rate=0.3), trainer=TrainerConfig(batch_size=4))
    assert cfg.task.type == "mlm" and cfg.trainer.batch_size == 4


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"trainer": {"task": "mlm"}}, r"trainer.task is gone: write task: \{type: mlm\}"),
        ({"task": {"type": "gan"}}, "task.type 'gan' is not a known task"),
        ({"task": {"type": "regression"}}, "model.size: the regression task trains a mlp model"),
        (
            {"task": {"type": "classify"}, "model": MLP},
            "model.size: the classify task trains a gpt",
        ),
        ({"task": {"type": "mlm"}, "model": {"causal": True}}, "model.causal: the mlm task"),
        ({"task": {"type": "mlm", "mask_token_fraction": 0.95}}, "task.random_token_fraction"),
        ({"task": {"type": "diffusion"}, "model": {**MLP, "d_in": 4}}, "model.d_in: the diffusion"),
        ({"task": {"type": "diffusion", "beta_end": 0.01}, "model": MLP}, "task.beta_end: the sch"),
        ({"task": {"type": "diffusion", "beta_start": 0.2}, "model": MLP}, "task.beta_end .0.1."),
        ({"task": {"type": "classify", "lora": {"target_modules": ["wz"]}}}, "wz is not a Linear"),
        ({"task": {"type": "classify", "lora": {}, "freeze_backbone": True}}, "task.freeze_backb"),
        ({"task": {"type": "classify", "ema_decay": 1.0}}, "ema_decay"),
    ],
)
def test_mistakes_name_the_field(raw, message):
    with pytest.raises(ValidationError, match=message):
        TrialConfig.model_validate(raw)


def test_mlm_resolves_an_encoder_with_a_mask_id():
    cfg = TrialConfig(task=MLMTask(), data=DataConfig())
    model = cfg.model_config_resolved()
    assert model.causal is False and model.vocab_size == cfg.data.vocab_size + 1


def test_diffusion_sizes_the_denoiser_from_the_data():
    cfg = TrialConfig(model=ModelSpec(**MLP), task=DiffusionTask(time_embed_dim=6))
    model = cfg.model_config_resolved()
    assert (model.d_in, model.d_out) == (2 + 6, 2)
    assert cfg.seq_len == 1 and cfg.tokens_per_step() == cfg.trainer.batch_size


def test_schedules_leave_almost_no_signal():
    assert DiffusionTask().alpha_bar_final < 0.01
    assert DiffusionTask(schedule="cosine").alpha_bar_final == 0.0
    linear = DiffusionTask(num_timesteps=10, beta_start=0.3, beta_end=0.5)
    expected = math.prod(1 - (0.3 + 0.2 * i / 9) for i in range(10))
    assert linear.alpha_bar_final == pytest.approx(expected)


def test_init_from_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ClassifyTask(init_from="up/checkpoints/final").init_from == str(
        tmp_path / "up" / "checkpoints" / "final"
    )


def test_train_size_counts_tokens_or_samples(data_cfg):
    lm = TrialConfig(data=data_cfg, model=ModelSpec(size="gpt-20k"))
    assert lm.train_size() == count_train_tokens(data_cfg)
    half = data_cfg.model_copy(update={"fraction": 0.5})
    for task in ({"type": "regression", "num_samples": 1000}, {"type": "diffusion"}):
        cfg = TrialConfig.model_validate(
            {"task": task, "model": MLP, "data": data_cfg.model_dump()}
        )
        smaller = cfg.model_copy(update={"data": half})
        assert cfg.train_size() == len(split_samples(cfg.task.num_samples, data_cfg).train)
        assert smaller.train_size() < cfg.train_size()
    classify = TrialConfig(data=data_cfg, task=ClassifyTask(num_sequences=500))
    assert classify.train_size() == len(split_samples(500, data_cfg).train) * classify.seq_len
    assert classify.num_tokens(classify.train_size()) <= classify.train_size()


def test_the_task_schema_reads_no_data():
    # One job per module: the task classes are options and rules; measuring a split (which
    # may tokenize a corpus) is trainers.train_split's.
    source = Path(__file__).resolve().parents[2] / "trainers" / "tasks.py"
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "data" not in imported and "trainers" not in imported, imported
    assert [TASKS[t]().generated_samples for t in ("lm", "mlm")] == [None, None]
    assert ClassifyTask(num_sequences=500).generated_samples == 500
