"""Typed data configuration: which corpus, which tokenizer, and which fraction of it a trial sees.

The `dataset:` section is polymorphic on its `type:` key (synthetic, text_files, stdlib, hf_text)
and pydantic resolves it to one config class per kind.

    cfg = DataConfig(dataset={"type": "synthetic", "order": 1}, fraction=0.25, seed=3)
    cfg.vocab_size                 # 64: what the model's embedding must hold
    splits = data.build(cfg)       # data.TokenSplits with train / eval token tensors
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_serializer, model_validator

from contract.config import FROZEN
from data import sources
from data.synthetic import MAX_TABLE_ENTRIES, synthetic_entropy_rate

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py", ".json", ".jsonl", ".csv", ".tex", ".html", ".xml")


class SyntheticConfig(BaseModel):
    """A seeded random order-k Markov language with a known entropy rate (see data.synthetic).

    It produces token ids directly, so the tokenizer section is ignored and the model's vocab is
    this section's vocab_size.
    """

    model_config = FROZEN

    type: Literal["synthetic"] = "synthetic"
    """Dataset kind."""
    vocab_size: int = Field(64, ge=2)
    """Number of distinct symbols (tokens) of the language."""
    order: int = Field(2, ge=1)
    """Markov order: how many previous tokens the next-token distribution depends on."""
    num_tokens: int = Field(2_000_000, gt=0)
    """Length of the generated corpus, in tokens (before the holdout split)."""
    concentration: float = Field(0.2, gt=0)
    """Dirichlet alpha of each transition row: small = peaky, low-entropy rows; large = uniform."""
    seed: int = Field(1234, ge=0)
    """Seed of the language itself (its transition table and sample), not of data sampling."""

    @model_validator(mode="after")
    def _table_fits(self) -> SyntheticConfig:
        entries = self.vocab_size ** (self.order + 1)
        if entries > MAX_TABLE_ENTRIES:
            raise ValueError(
                f"data.dataset.order={self.order} with vocab_size={self.vocab_size} needs a "
                f"{entries:,}-entry transition table (max {MAX_TABLE_ENTRIES:,}); lower either"
            )
        return self

    @property
    def entropy_rate_nats(self) -> float:
        """The language's entropy rate in nats/token: the loss floor a perfect model reaches."""
        return synthetic_entropy_rate(self)

    def fingerprint(self) -> str:
        """Identity of the generated corpus (it is a pure function of this config)."""
        return sources.synthetic_fingerprint(self)

    def build(self) -> sources.Corpus:
        """Generate the token corpus."""
        return sources.load_synthetic(self)


class TextFilesConfig(BaseModel):
    """UTF-8 text files on local disk, read in the order given (directories in sorted order)."""

    model_config = FROZEN

    type: Literal["text_files"] = "text_files"
    """Dataset kind."""
    paths: tuple[str, ...]
    """Files, directories (walked recursively, hidden entries skipped) or glob patterns
    (`**` allowed). Relative paths resolve against the working directory of the process."""
    suffixes: tuple[str, ...] | None = TEXT_SUFFIXES
    """File suffixes taken when walking a directory; null takes every file. Files named
    explicitly or matched by a glob are always read."""

    @field_validator("paths", mode="after")
    @classmethod
    def _absolute(cls, paths: tuple[str, ...]) -> tuple[str, ...]:
        # Trials run in other processes (and other folders); pin paths to where they were given.
        return tuple(os.path.abspath(os.path.expanduser(p)) for p in paths)

    @model_validator(mode="after")
    def _has_paths(self) -> TextFilesConfig:
        if not self.paths:
            raise ValueError("data.dataset.paths must list at least one file, directory or glob")
        return self

    def fingerprint(self) -> str:
        """Cheap identity of the files (paths, sizes, modification times); reads no content."""
        return sources.text_files_fingerprint(self)

    def build(self) -> sources.Corpus:
        """Read the files into a text corpus."""
        return sources.load_text_files(self)


class StdlibConfig(BaseModel):
    """The running Python's standard-library sources: real text available offline everywhere.

    The .py files under the stdlib directory (site-packages, dist-packages, __pycache__ and the
    test/tests/idle_test directories left out) in sorted relative-path order, concatenated up to
    max_bytes. The exact text, and so every loss measured on it, depends on the Python version.
    """

    model_config = FROZEN

    type: Literal["stdlib"] = "stdlib"
    """Dataset kind."""
    max_bytes: int = Field(4_000_000, gt=0)
    """Corpus size cap in bytes of UTF-8 source (the last file is cut at the cap)."""
    tests_bytes: int = Field(0, ge=0)
    """Bytes of the left-out test suites' sources (test/, tests/, idle_test/, sorted, the last
    file cut) added to the training pool only, for a run that needs more tokens than the library
    holds: the holdout, and so every evaluation, stays the library's own, exactly as without
    them. 0 (the default): none. Needs data.fraction 1."""

    @model_serializer(mode="wrap")
    def _without_default_tests(self, handler: Any) -> dict[str, Any]:
        # Trial identities hash the dumped config: a field at its default must not change the
        # identity of every stdlib trial run before it existed.
        out = handler(self)
        if isinstance(out, dict) and not out.get("tests_bytes"):
            out.pop("tests_bytes", None)
        return out

    def fingerprint(self) -> str:
        """Cheap identity (Python version, file list, sizes, modification times)."""
        return sources.stdlib_fingerprint(self)

    def extra_train(self) -> sources.ExtraSource | None:
        """The test suites' sources when tests_bytes > 0 (training pool only), else None."""
        return sources.stdlib_tests(self.tests_bytes) if self.tests_bytes else None

    def build(self) -> sources.Corpus:
        """Read the stdlib sources into a text corpus."""
        return sources.load_stdlib(self)


class HFTextConfig(BaseModel):
    """A text column of a Hugging Face dataset: a dataset saved with `save_to_disk`, a local
    data directory/file, or a hub name (needs the `datasets` package; offline a hub name only
    works from the local Hugging Face cache)."""

    model_config = FROZEN

    type: Literal["hf_text"] = "hf_text"
    """Dataset kind."""
    path: str
    """Hub name (e.g. `roneneldan/TinyStories`), or a local path to a saved dataset or data."""

    @field_validator("path", mode="after")
    @classmethod
    def _absolute_if_local(cls, path: str) -> str:
        local = os.path.expanduser(path)
        return os.path.abspath(local) if os.path.exists(local) else path

    name: str | None = None
    """Hub configuration name, if the dataset has several."""
    split: str = "train"
    """Split to read."""
    text_field: str = "text"
    """Column holding the text."""
    max_bytes: int | None = Field(None, gt=0)
    """Stop after this many bytes of UTF-8 text; null reads the whole split."""

    def fingerprint(self) -> str:
        """Identity of the source: file stats for local paths, the config for hub names."""
        return sources.hf_fingerprint(self)

    def build(self) -> sources.Corpus:
        """Load the split's text column into a text corpus."""
        return sources.load_hf_text(self)


DatasetConfig = Annotated[
    SyntheticConfig | TextFilesConfig | StdlibConfig | HFTextConfig, Field(discriminator="type")
]


class TokenizerConfig(BaseModel):
    """Turns text into token ids. Ignored for synthetic datasets, which are already tokens."""

    model_config = FROZEN

    type: Literal["byte", "bpe"] = "byte"
    """byte: UTF-8 bytes, 256 ids, nothing to train. bpe: byte-level BPE trained on the corpus
    once and cached on disk (keyed by the corpus content and vocab_size)."""
    vocab_size: int = Field(512, gt=0)
    """bpe only: number of token ids, the 256 byte symbols included (byte is always 256)."""

    @model_validator(mode="after")
    def _check_vocab(self) -> TokenizerConfig:
        if self.type == "bpe" and self.vocab_size <= 256:
            raise ValueError(
                f"tokenizer.vocab_size must be > 256 for bpe (the byte alphabet alone takes 256), "
                f"got {self.vocab_size}"
            )
        # The default (512) is accepted so a dumped config of a byte tokenizer loads again.
        allowed = (256, type(self).model_fields["vocab_size"].default)
        if self.type == "byte" and self.vocab_size not in allowed:
            raise ValueError(
                f"tokenizer.vocab_size={self.vocab_size} applies to bpe only; byte is always 256"
            )
        return self

    @property
    def effective_vocab_size(self) -> int:
        """Number of token ids the tokenizer can emit: 256 for byte, vocab_size for bpe."""
        return 256 if self.type == "byte" else self.vocab_size

    @property
    def cache_key(self) -> str:
        """Short name of the tokenization, part of tokenized-corpus cache file names."""
        return "byte" if self.type == "byte" else f"bpe{self.vocab_size}"


class DataConfig(BaseModel):
    """What one trial trains and evaluates on.

    The token stream is cut into chunks of chunk_tokens; a seeded holdout_fraction of the chunks
    is the eval split (the same for every fraction), and `fraction` of the remaining chunks,
    picked by `sampling`, is the train split.
    """

    model_config = FROZEN

    dataset: DatasetConfig = StdlibConfig()
    """The corpus, selected by its `type:` (synthetic, text_files, stdlib, hf_text)."""
    tokenizer: TokenizerConfig = TokenizerConfig()
    """How text becomes token ids (ignored by synthetic datasets)."""
    fraction: float = 1.0
    """Fraction (0-1] of the non-holdout chunks used for training: the data-size axis."""
    sampling: Literal["random", "interval"] = "random"
    """random: a seeded permutation's first chunks (smaller fractions are subsets of larger
    ones); interval: evenly spaced chunks (every k-th for fraction 1/k), covering the corpus."""
    chunk_tokens: int = 2048
    """Length in tokens of the segments the token stream is cut into for holdout and sampling."""
    holdout_fraction: float = 0.05
    """Fraction (0-1) of chunks held out for evaluation, chosen by seed, independent of fraction."""
    seed: int = 0
    """Seed of the holdout choice and of the random fraction sample."""
    cache_dir: str | None = None
    """Cache directory for tokenizers and tokenized corpora; null = $SCALESWEEP_CACHE or
    ~/.cache/scalesweep."""

    @model_validator(mode="after")
    def _check_ranges(self) -> DataConfig:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"data.fraction must be in (0, 1], got {self.fraction:g}")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError(
                f"data.holdout_fraction must be in (0, 1), got {self.holdout_fraction:g}"
            )
        if self.chunk_tokens < 1:
            raise ValueError(f"data.chunk_tokens must be >= 1, got {self.chunk_tokens}")
        if self.seed < 0:
            raise ValueError(f"data.seed must be >= 0, got {self.seed}")
        if getattr(self.dataset, "tests_bytes", 0) and self.fraction < 1:
            raise ValueError(
                f"data.dataset.tests_bytes: extra training sources need data.fraction 1, "
                f"got {self.fraction:g}"
            )
        return self

    @property
    def vocab_size(self) -> int:
        """Vocabulary the model must have: the synthetic language's, else the tokenizer's."""
        if isinstance(self.dataset, SyntheticConfig):
            return self.dataset.vocab_size
        return self.tokenizer.effective_vocab_size

    @property
    def token_key(self) -> str:
        """How this config's corpus is tokenized, as a cache-file name part."""
        return "raw" if isinstance(self.dataset, SyntheticConfig) else self.tokenizer.cache_key
