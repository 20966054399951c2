"""Datasets, tokenizers, data-fraction sampling, holdout splits and batching (never imports Ray).

Everything is offline-first: the default corpus is the running Python's standard library, and a
synthetic Markov language with a known entropy rate serves scaling-law checks.

    cfg = DataConfig(dataset=SyntheticConfig(vocab_size=32), fraction=0.5, seed=1)
    splits = build(cfg, min_train_tokens=16 * 128)
    x, y = random_windows(splits.train, 128, 16, torch.Generator().manual_seed(0))
"""

from data.batching import random_windows, shard, spread_windows
from data.config import (
    DataConfig,
    DatasetConfig,
    HFTextConfig,
    StdlibConfig,
    SyntheticConfig,
    TextFilesConfig,
    TokenizerConfig,
)
from data.splits import TokenSplits, build, count_train_tokens, load_token_stream, load_tokenizer
from data.synthetic import synthetic_entropy_rate

__all__ = [
    "DataConfig",
    "DatasetConfig",
    "HFTextConfig",
    "StdlibConfig",
    "SyntheticConfig",
    "TextFilesConfig",
    "TokenSplits",
    "TokenizerConfig",
    "build",
    "count_train_tokens",
    "load_token_stream",
    "load_tokenizer",
    "random_windows",
    "spread_windows",
    "shard",
    "synthetic_entropy_rate",
]
