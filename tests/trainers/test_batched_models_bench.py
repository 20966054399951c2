"""bench/batched_models.py: K models stacked into one GPT train exactly as K plain models do,
so its tokens-per-second ratio compares like with like."""

from __future__ import annotations

import pytest
import torch

from tests.bench_script import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("batched_models")


def test_stacked_models_step_like_plain_ones(bench):
    # Three models, four steps from the same weights and batches: every loss the same.
    assert bench.agreement("gpt-10k", 3, steps=4) < 1e-5


def test_each_stacked_model_sees_only_its_own_rows(bench):
    models = bench.make_models("gpt-10k", 2, seed=0)
    stacked = bench.stack(models)
    x = torch.randint(0, bench.VOCAB, (2, 3, 16))  # (K, B, T)
    together = stacked(x.flatten(0, 1)).view(2, 3, 16, -1)
    for k, model in enumerate(models):
        assert torch.allclose(together[k], model(x[k]), atol=1e-5)


def test_the_command_prints_one_ratio_per_case(bench, capsys):
    assert bench.main(["--sizes", "gpt-10k", "--k", "2", "--steps", "2", "--rounds", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("batched_gpt-10k_k2=") and float(last.split("=")[1]) > 0
