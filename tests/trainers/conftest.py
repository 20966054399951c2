"""Shared fixtures for the trainer tests: a tiny synthetic language and a tiny GPT."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from data import DataConfig, SyntheticConfig
from models import ModelSpec
from trainers.config import OptimConfig, TrainerConfig, TrialConfig

BATCH_SIZE = 8
SEQ_LEN = 32
TOKENS_PER_STEP = BATCH_SIZE * SEQ_LEN
VOCAB_SIZE = 16

TINY_MODEL = ModelSpec(size="gpt-20k", d_model=32, n_layers=1, n_heads=2, d_ff=64, seq_len=SEQ_LEN)
TINY_MLP = ModelSpec(size="mlp-1k", d_model=32, n_layers=2)


@pytest.fixture(scope="session")
def data_cfg(tmp_path_factory: pytest.TempPathFactory) -> DataConfig:
    """The tiny synthetic language every trainer test uses (its own cache folder)."""
    cache_dir = str(tmp_path_factory.mktemp("data-cache"))
    dataset = SyntheticConfig(vocab_size=VOCAB_SIZE, order=1, num_tokens=40_000)
    return DataConfig(dataset=dataset, chunk_tokens=512, holdout_fraction=0.1, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def make_cfg(data_cfg: DataConfig) -> Callable[..., TrialConfig]:
    """Factory for a tiny TrialConfig of `steps` optimizer steps; keywords override trainer
    fields, `optim` replaces the optimizer section."""

    def make(steps: int, optim: OptimConfig | None = None, seed: int = 0, **trainer) -> TrialConfig:
        accum = trainer.get("grad_accum_steps", 1)
        trainer = {
            "batch_size": BATCH_SIZE,
            "max_tokens": steps * TOKENS_PER_STEP * accum,
            "eval_tokens": 1024,
            **trainer,
        }
        return TrialConfig(
            model=TINY_MODEL,
            data=data_cfg,
            optim=optim or OptimConfig(lr=1e-2),
            trainer=TrainerConfig(**trainer),
            seed=seed,
        )

    return make


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    # Runs set torch's thread count, which is process-wide; other tests must not inherit it.
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def make_task_cfg(data_cfg: DataConfig) -> Callable[..., TrialConfig]:
    """Factory for a tiny TrialConfig of any task: `task` is the task section, `steps` the
    optimizer steps it takes (max_tokens caps it; epochs never do), keywords override trainer
    fields. GPT tasks get the tiny GPT, the others a small MLP unless `model` says otherwise."""

    def make(
        task: dict,
        steps: int,
        model: ModelSpec | None = None,
        optim: OptimConfig | None = None,
        seed: int = 0,
        **trainer,
    ) -> TrialConfig:
        if model is None:
            model = TINY_MODEL if task["type"] in ("lm", "mlm", "classify") else TINY_MLP
        trainer = {"batch_size": BATCH_SIZE, "epochs": 1000, "eval_tokens": 1024, **trainer}
        raw = {
            "model": model.model_dump(exclude_unset=True),
            "data": data_cfg.model_dump(),
            "optim": (optim or OptimConfig(lr=1e-2)).model_dump(),
            "trainer": trainer,
            "task": task,
            "seed": seed,
        }
        per_step = TrialConfig.model_validate(raw).tokens_per_step()
        raw["trainer"] = {**trainer, "max_tokens": steps * per_step}
        return TrialConfig.model_validate(raw)

    return make
