"""The stdlib corpus's test suites as training-only tokens: more tokens for a large run, the
evaluation split unchanged, old trial identities unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from data import DataConfig, build, count_train_tokens
from data.config import StdlibConfig
from data.sources import load_stdlib, stdlib_files, stdlib_tests

LIBRARY = StdlibConfig(max_bytes=300_000)


def test_tests_add_training_tokens_and_leave_the_eval_split_as_it_was():
    plain = DataConfig(dataset=LIBRARY)
    more = DataConfig(dataset=LIBRARY.model_copy(update={"tests_bytes": 100_000}))
    a, b = build(plain), build(more)
    assert np.array_equal(a.eval.numpy(), b.eval.numpy())  # every evaluation scores the same
    assert np.array_equal(a.train.numpy(), b.train[: a.train.numel()].numpy())
    assert 99_000 < b.train.numel() - a.train.numel() <= 100_000  # byte tokens, last file cut
    assert count_train_tokens(more) == b.train.numel()
    assert b.corpus_tokens == a.corpus_tokens + b.train.numel() - a.train.numel()


def test_test_files_are_only_the_left_out_suites():
    library = {p for p, _ in stdlib_files(10**9)}
    tests = [p for p, _ in stdlib_tests(2_000_000).files]
    assert tests and not library.intersection(tests)
    assert all({"test", "tests", "idle_test"}.intersection(p.parts) for p in tests)
    assert load_stdlib(LIBRARY).docs == load_stdlib(StdlibConfig(max_bytes=300_000)).docs


def test_default_leaves_the_dumped_config_and_so_trial_identities_unchanged():
    assert "tests_bytes" not in LIBRARY.model_dump()
    assert LIBRARY.model_copy(update={"tests_bytes": 5}).model_dump()["tests_bytes"] == 5
    assert StdlibConfig(tests_bytes=5).extra_train() is not None
    assert LIBRARY.extra_train() is None


def test_extra_sources_need_the_whole_library():
    with pytest.raises(ValidationError, match="data.dataset.tests_bytes"):
        DataConfig(dataset=StdlibConfig(tests_bytes=1000), fraction=0.5)
