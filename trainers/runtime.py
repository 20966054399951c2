"""Process-level set-up shared by the trainers: device choice, CPU threads, seeds, RNG state.

These are the pieces of a run that depend on the machine rather than on the config, kept
apart so every trainer resolves devices and restores random state the same way.

    device = resolve_device("auto")
    seed_everything(cfg.seed)
    with autocast(device, "bf16"): loss = model(x).sum()
"""

from __future__ import annotations

import contextlib
import gc
import random
from collections.abc import Iterator

import torch


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(requested: str) -> torch.device:
    """The torch device for `requested`: auto picks CUDA, then MPS, then CPU.

    Explicit indices such as "cuda:1" (what a Ray worker is assigned) pass through unchanged.
    """
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as err:
        raise ValueError(f"device {requested!r} is not a torch device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} was requested but CUDA is not available")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"device {requested!r} was requested but MPS is not available")
    return device


def pick_device(context_device: str, config_device: str) -> torch.device:
    """The runtime's device wins (a Ray worker knows its GPU); otherwise the config's choice."""
    return resolve_device(config_device if context_device == "auto" else context_device)


def set_threads(num_threads: int | None) -> None:
    """Limit torch's intra-op CPU threads; several trials share a node's cores under Ray."""
    if num_threads is not None:
        torch.set_num_threads(num_threads)


def seed_everything(seed: int) -> None:
    """Seed Python and torch (all devices) so model initialisation is a function of `seed`."""
    random.seed(seed)
    torch.manual_seed(seed)


def batch_generator(seed: int) -> torch.Generator:
    """A CPU generator that alone decides the batch order, so it can be saved and restored."""
    return torch.Generator(device="cpu").manual_seed(seed)


def rng_state(batch_rng: torch.Generator) -> dict[str, torch.Tensor | list[torch.Tensor]]:
    """Every random state a resumed run needs, as tensors (loadable with weights_only=True)."""
    state: dict[str, torch.Tensor | list[torch.Tensor]] = {
        "batch": batch_rng.get_state(),
        "torch_cpu": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(
    state: dict[str, torch.Tensor | list[torch.Tensor]], batch_rng: torch.Generator
) -> None:
    """Undo `rng_state`: the batch order and dropout draws continue where they left off."""
    batch_rng.set_state(state["batch"])
    torch.set_rng_state(state["torch_cpu"])
    cuda_states = state.get("torch_cuda")
    # A checkpoint from a GPU run may be resumed on a machine without one; init is re-seeded
    # anyway, and only dropout would differ.
    if cuda_states is not None and torch.cuda.is_available():
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for the forward pass, or a no-op for fp32 (no per-step autocast cost)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if precision == "fp32":
        return contextlib.nullcontext()
    raise ValueError(f"trainer.precision must be fp32 or bf16, got {precision!r}")


def maybe_no_sync(model: torch.nn.Module, skip_sync: bool) -> contextlib.AbstractContextManager:
    """DDP's no_sync for accumulation micro-steps: all-reduce gradients only on the last one."""
    if skip_sync and hasattr(model, "no_sync"):
        return model.no_sync()
    return contextlib.nullcontext()


COMPILE_MIN_STEPS = 2_000
"""trainer.compile auto: GPU trials of at least this many steps compile. A compile costs tens
of seconds; at a few milliseconds saved per step it is repaid after some thousands."""


def should_compile(setting: bool | str, device: torch.device, steps_left: int) -> bool:
    """Whether to torch.compile a trial's model, for trainer.compile `setting`.

    auto on a CPU is not decided here, before any step: the loop times the trial's first
    eager steps and trainers.compile_auto weighs them against this host's compile cost.
    """
    if setting == "auto":
        return device.type == "cuda" and steps_left >= COMPILE_MIN_STEPS
    return bool(setting)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects alive now out of the garbage collector's passes while a trial runs.

    A trial's process holds hundreds of thousands of long-lived objects (torch, Ray, pandas)
    that every full collection walks again: in a gpt-10k trial of 1000 steps (8 s of CPU) in
    a process that imports Ray and pandas, as a sweep's does, the full passes took 0.18-0.21
    s unfrozen and 0.04 s frozen (0.4-0.7 s against 0.1 s on a busy machine). The trial's
    own garbage is still collected, and on exit the frozen objects rejoin the collector, so
    a reused trial process frees what the trial left behind.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so wall-clock timings measure work rather than launches."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
