"""Data configs: discriminated dataset section, vocab sizes, validation messages."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from data import DataConfig, SyntheticConfig, TextFilesConfig, TokenizerConfig
from data.config import HFTextConfig, StdlibConfig


@pytest.mark.parametrize(
    "kind, cls",
    [
        ("synthetic", SyntheticConfig),
        ("text_files", TextFilesConfig),
        ("stdlib", StdlibConfig),
        ("hf_text", HFTextConfig),
    ],
)
def test_each_type_name_validates_into_its_config(kind, cls):
    extra = {"paths": ["a"]} if kind == "text_files" else {}
    extra = {"path": "x"} if kind == "hf_text" else extra
    cfg = DataConfig.model_validate({"dataset": {"type": kind, **extra}})
    assert type(cfg.dataset) is cls


def test_dataset_section_dispatches_on_type():
    cfg = DataConfig.model_validate({"dataset": {"type": "text_files", "paths": ["a", "b/"]}})
    assert isinstance(cfg.dataset, TextFilesConfig)
    # Relative paths are pinned to the working directory, since trials run elsewhere.
    assert cfg.dataset.paths == (os.path.abspath("a"), os.path.abspath("b"))
    assert isinstance(DataConfig().dataset, StdlibConfig)
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        DataConfig.model_validate({"dataset": {"type": "parquet"}})


def test_vocab_size_follows_dataset_and_tokenizer():
    assert DataConfig().vocab_size == 256
    bpe = TokenizerConfig(type="bpe", vocab_size=1000)
    assert bpe.effective_vocab_size == 1000 and DataConfig(tokenizer=bpe).vocab_size == 1000
    # Synthetic corpora are token ids already: their own vocab wins over the tokenizer's.
    assert DataConfig(dataset=SyntheticConfig(vocab_size=40), tokenizer=bpe).vocab_size == 40


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fraction": 0}, r"data.fraction must be in \(0, 1\], got 0"),
        ({"fraction": 1.5}, r"data.fraction must be in \(0, 1\], got 1.5"),
        ({"holdout_fraction": 0}, "data.holdout_fraction"),
        ({"chunk_tokens": 0}, "data.chunk_tokens"),
        ({"seed": -1}, "data.seed"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_values_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(**fields)


def test_tokenizer_vocab_checks():
    with pytest.raises(ValueError, match="tokenizer.vocab_size must be > 256 for bpe"):
        TokenizerConfig(type="bpe", vocab_size=200)
    with pytest.raises(ValueError, match="applies to bpe only"):
        TokenizerConfig(type="byte", vocab_size=1000)
    assert TokenizerConfig(type="byte").effective_vocab_size == 256
    assert TokenizerConfig(type="byte", vocab_size=512).effective_vocab_size == 256


def test_text_files_needs_paths_and_configs_are_frozen():
    with pytest.raises(ValueError, match="data.dataset.paths must list"):
        TextFilesConfig(paths=[])
    cfg = DataConfig()
    with pytest.raises(ValidationError):
        cfg.fraction = 0.5
    assert hash(DataConfig(dataset=TextFilesConfig(paths=["x"]))) is not None


@pytest.mark.parametrize(
    "cfg",
    [
        DataConfig(),
        DataConfig(dataset=SyntheticConfig(order=1), fraction=0.5, sampling="interval"),
        DataConfig(dataset=TextFilesConfig(paths=["a/*.txt"]), tokenizer={"type": "bpe"}),
        DataConfig(dataset=HFTextConfig(path="x", max_bytes=10), cache_dir="/tmp/c"),
    ],
)
def test_configs_roundtrip_through_dicts_and_json(cfg):
    # Trial configs travel to workers as plain dicts/JSON and must come back identical.
    assert DataConfig.model_validate(cfg.model_dump()) == cfg
    assert DataConfig.model_validate_json(cfg.model_dump_json()) == cfg
