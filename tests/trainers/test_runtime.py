"""Device choice, thread limits, random-state capture and the precision switch."""

from __future__ import annotations

import gc

import pytest
import torch

from trainers import runtime


def test_auto_picks_an_accelerator_only_when_present():
    device = runtime.resolve_device("auto")
    expected = "cuda" if torch.cuda.is_available() else device.type
    assert device.type == expected and device.type in {"cuda", "mps", "cpu"}
    if not torch.cuda.is_available() and not runtime._mps_available():
        assert device == torch.device("cpu")


def test_context_device_overrides_the_config():
    assert runtime.pick_device("cpu", "cuda") == torch.device("cpu")
    assert runtime.pick_device("auto", "cpu") == torch.device("cpu")


def test_bad_device_names_are_clear_errors():
    with pytest.raises(ValueError, match="'gpu0' is not a torch device"):
        runtime.resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.resolve_device("cuda:1")


def test_set_threads():
    runtime.set_threads(1)
    assert torch.get_num_threads() == 1


def test_rng_state_restores_batch_order_and_torch_draws():
    gen = runtime.batch_generator(3)
    torch.randint(0, 10, (5,), generator=gen)
    saved = runtime.rng_state(gen)
    first = (torch.randint(0, 1000, (8,), generator=gen), torch.rand(4))
    runtime.restore_rng_state(saved, gen)
    again = (torch.randint(0, 1000, (8,), generator=gen), torch.rand(4))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_seed_everything_fixes_initialisation():
    runtime.seed_everything(5)
    a = torch.nn.Linear(4, 4).weight.detach().clone()
    runtime.seed_everything(5)
    assert torch.equal(a, torch.nn.Linear(4, 4).weight)


def test_precision_switch():
    cpu = torch.device("cpu")
    with runtime.autocast(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with runtime.autocast(cpu, "fp32"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="trainer.precision"):
        runtime.autocast(cpu, "fp16")


def test_frozen_heap_freezes_what_is_alive_and_lets_it_go_after():
    before = gc.get_freeze_count()
    with runtime.frozen_heap():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == before == 0
