"""The trial data pipeline: holdout independent of fraction, nested and interval samples,
cross-process determinism, token counts and the on-disk cache."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import data.sources as sources_mod
from data import (
    DataConfig,
    SyntheticConfig,
    TextFilesConfig,
    TokenizerConfig,
    build,
    count_train_tokens,
    load_token_stream,
)
from data.sampling import plan_chunks

REPO = Path(__file__).resolve().parents[2]
SYNTH = SyntheticConfig(vocab_size=8, order=1, num_tokens=60_000)


def chunk_set(tokens: np.ndarray, size: int) -> set[bytes]:
    return {tokens[i : i + size].tobytes() for i in range(0, len(tokens), size)}


def test_eval_split_is_the_same_for_every_fraction():
    base = DataConfig(dataset=SYNTH, chunk_tokens=500, holdout_fraction=0.1, seed=3)
    full, tenth = build(base), build(base.model_copy(update={"fraction": 0.1}))
    assert np.array_equal(full.eval.numpy(), tenth.eval.numpy())
    assert full.eval.numel() == 12 * 500  # round(0.1 * 120) chunks
    assert full.train.numel() == 108 * 500 and tenth.train.numel() == 11 * 500
    assert full.corpus_tokens == tenth.corpus_tokens == 108 * 500
    # Train and holdout never share a chunk.
    assert not chunk_set(full.train.numpy(), 500) & chunk_set(full.eval.numpy(), 500)
    other_seed = build(base.model_copy(update={"seed": 4}))
    assert not np.array_equal(other_seed.eval.numpy(), full.eval.numpy())


def test_random_fractions_are_nested_subsets():
    plans = [plan_chunks(100_000, 100, 0.05, f, "random", seed=5) for f in (0.1, 0.3, 0.7, 1.0)]
    for small, large in zip(plans, plans[1:], strict=False):
        assert set(small.train_ids.tolist()) < set(large.train_ids.tolist())
    assert [len(p.train_ids) for p in plans] == [95, 285, 665, 950]
    assert set(plans[-1].train_ids.tolist()) == set(plans[-1].pool_ids.tolist())
    assert all(np.array_equal(p.eval_ids, plans[0].eval_ids) for p in plans)


def test_interval_sampling_takes_every_kth_chunk():
    p = plan_chunks(100_000, 100, 0.04, 0.25, "interval", seed=5)  # a pool of 960 chunks
    assert np.array_equal(p.train_ids, p.pool_ids[::4])
    third = plan_chunks(100_000, 100, 0.05, 0.3, "interval", seed=5)
    assert len(third.train_ids) == 285 and np.all(np.diff(third.train_ids) > 0)


def test_short_last_chunk_is_counted_exactly():
    p = plan_chunks(1050, 100, 0.2, 1.0, "random", seed=0)  # 11 chunks, the last 50 tokens
    assert p.tokens_in(p.pool_ids) + p.tokens_in(p.eval_ids) == 1050


def test_count_train_tokens_matches_build_and_uses_the_cache(monkeypatch: pytest.MonkeyPatch):
    cfg = DataConfig(dataset=SYNTH, fraction=0.3, chunk_tokens=512, sampling="interval")
    assert count_train_tokens(cfg) == build(cfg).train.numel()

    def no_generation(_cfg):
        raise AssertionError("a warm cache must not regenerate the corpus")

    monkeypatch.setattr(sources_mod, "generate", no_generation)
    half = cfg.model_copy(update={"fraction": 0.5})
    assert count_train_tokens(half) == build(half).train.numel() > count_train_tokens(cfg)


def test_tiny_fraction_names_data_fraction():
    cfg = DataConfig(dataset=SYNTH, fraction=0.001, chunk_tokens=512)
    with pytest.raises(
        ValueError,
        match=r"data.fraction=0.001 leaves 512 training tokens, "
        r"fewer than one batch \(2048\)",
    ):
        build(cfg, min_train_tokens=2048)
    with pytest.raises(ValueError, match="data.chunk_tokens=100000"):
        build(cfg.model_copy(update={"chunk_tokens": 100_000}))


def test_touched_files_reuse_the_tokenized_corpus(text_dir: Path, private_cache: Path):
    cfg = DataConfig(dataset=TextFilesConfig(paths=[str(text_dir)]), chunk_tokens=256)
    before = load_token_stream(cfg)
    os.utime(text_dir / "a.txt", ns=(1, 1))
    assert np.array_equal(load_token_stream(cfg), before)
    assert len(list((private_cache / "tokens").glob("*.npy"))) == 1
    assert len(list((private_cache / "corpus").glob("*.json"))) == 2
    (text_dir / "a.txt").write_text("changed\n" * 1000)
    assert load_token_stream(cfg).shape != before.shape


_CHILD = """
import hashlib, json, sys
from data import DataConfig, SyntheticConfig, TextFilesConfig, TokenizerConfig, build
cfgs = [DataConfig.model_validate(c) for c in json.loads(sys.argv[1])]
hashes = []
for cfg in cfgs:
    s = build(cfg)
    hashes.append(hashlib.sha256(s.train.numpy().tobytes() + s.eval.numpy().tobytes()).hexdigest())
print(json.dumps({"hashes": hashes, "ray": "ray" in sys.modules}))
"""


def test_sampling_is_identical_across_processes(text_dir: Path, tmp_path: Path):
    cfgs = [
        DataConfig(dataset=SYNTH, fraction=0.3, chunk_tokens=256, seed=7),
        DataConfig(
            dataset=TextFilesConfig(paths=[str(text_dir)]),
            tokenizer=TokenizerConfig(type="bpe", vocab_size=300),
            fraction=0.5,
            chunk_tokens=128,
            seed=11,
        ),
    ]
    arg = json.dumps([c.model_dump() for c in cfgs])
    procs = []
    for i in range(2):
        # Separate caches and hash seeds: each process generates, trains and samples afresh.
        env = {
            **os.environ,
            "SCALESWEEP_CACHE": str(tmp_path / f"cache{i}"),
            "PYTHONHASHSEED": str(i),
            "PYTHONPATH": str(REPO),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, arg],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert results[0] == results[1]
    assert results[0]["ray"] is False  # the data package never imports Ray
    here = [build(c) for c in cfgs]
    assert results[0]["hashes"] == [
        hashlib.sha256(s.train.numpy().tobytes() + s.eval.numpy().tobytes()).hexdigest()
        for s in here
    ]
