"""Several small models of one shape trained as one batched model: tokens per second per model.

The main job's trials are 6.7k-220k parameters, where a training step is mostly kernel dispatch,
not arithmetic. Models that share a shape (seeds, learning rates) can be trained together: one
GPT whose layers hold the K models' weights stacked on a leading axis runs the model's own
forward on a (K*B, T) batch, model k on its own rows (its linear layers one batched matmul,
attention the flash kernel as before), the K losses are summed (so each model's gradient is its
own), every model is clipped by its own gradient norm and one fused AdamW steps the stacked
tensors (elementwise, so each update is its model's own). This bench measures what that buys,
side by side in one process on one thread: tokens per second per model, K models stacked
against one plain model taking the trainer's own step (forward, backward, clipping, fused
AdamW), alternating the two in rounds. It first checks that the stacked step gives the K plain
models' losses from the same weights and batches.

    python bench/batched_models.py                      # gpt-10k and gpt-100k, K = 2, 4, 8
    python bench/batched_models.py --sizes gpt-20k --k 4 --steps 40 --rounds 3

The last line: ``batched_<size>_k<K>=<ratio>`` per case, tokens/s per model stacked over plain.
(``torch.func.vmap`` over the plain model was measured too: 0.40x at K = 2 on gpt-10k, since the
CPU flash-attention kernel has no batching rule, and 0.16x at K = 4 with matmul attention.)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.gpt import RMSNorm  # noqa: E402
from models.presets import from_name  # noqa: E402

VOCAB, SEQ, BATCH = 512, 128, 8
"""The main job's byte vocabulary, context and batch."""
LR, CLIP = 3e-3, 1.0


class StackedLinear(nn.Module):
    """K bias-free linear layers of one shape: rows of model k through its own weight, as one
    batched matmul."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in layers]))  # (K, o, i)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[0]
        rows = x.reshape(k, -1, x.shape[-1])  # (K, B*T, in)
        return torch.bmm(rows, self.weight.transpose(1, 2)).reshape(*x.shape[:-1], -1)


class StackedEmbedding(nn.Module):
    """K embedding tables as one: model k's ids are offset into its own block of rows."""

    def __init__(self, tables: list[nn.Module]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in tables]))  # (K, V, d)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        k, vocab, dim = self.weight.shape
        offsets = torch.arange(k).repeat_interleave(idx.shape[0] // k) * vocab  # (K*B,)
        return F.embedding(idx + offsets[:, None], self.weight.reshape(k * vocab, dim))


class StackedRMSNorm(nn.Module):
    """K RMSNorm gains around the model's own normalisation."""

    def __init__(self, norms: list[nn.Module]) -> None:
        super().__init__()
        self.eps = norms[0].eps
        self.weight = nn.Parameter(torch.stack([m.weight.detach() for m in norms]))  # (K, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[0]
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        rows = xf.type_as(x).reshape(k, -1, x.shape[-1]) * self.weight[:, None, :]
        return rows.reshape(x.shape)


def stack(models: list[nn.Module]) -> nn.Module:
    """One GPT whose layers hold the K models' weights (untied embeddings only)."""
    stacked = copy.deepcopy(models[0])
    kinds = {nn.Linear: StackedLinear, nn.Embedding: StackedEmbedding, RMSNorm: StackedRMSNorm}
    for name, module in list(stacked.named_modules()):
        make = kinds.get(type(module))
        if make is None:
            continue
        parent, _, child = name.rpartition(".")
        owner = stacked.get_submodule(parent) if parent else stacked
        setattr(owner, child, make([m.get_submodule(name) for m in models]))
    return stacked


def plain_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor):
    """The trainer's step for one model: loss, backward, clip to CLIP, fused AdamW."""
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    return loss.detach()


class Stacked:
    """K models of one shape, stepped together."""

    def __init__(self, models: list[nn.Module]) -> None:
        self.k = len(models)
        self.model = stack(models)
        self.params = list(self.model.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=LR, betas=(0.9, 0.95), fused=True)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x, y: (K, B, T). Returns the K losses."""
        logits = self.model(x.flatten(0, 1))  # (K*B, T, V)
        per_token = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        losses = per_token.view(self.k, -1).mean(1)  # (K,)
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        sq = sum(p.grad.reshape(self.k, -1).pow(2).sum(1) for p in self.params)  # (K,)
        scale = (CLIP / (sq.sqrt() + 1e-6)).clamp(max=1.0)  # each model's own clip
        for p in self.params:
            p.grad.mul_(scale.view(-1, *([1] * (p.ndim - 1))))
        self.opt.step()
        return losses.detach()


def make_models(size: str, k: int, seed: int) -> list[nn.Module]:
    cfg = from_name(size).model_copy(update={"vocab_size": VOCAB, "seq_len": SEQ})
    models = []
    for i in range(k):
        torch.manual_seed(seed + i)
        models.append(cfg.build())
    return models


def batches(k: int, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (steps, k, BATCH, SEQ + 1), generator=g)
    return tokens[..., :-1], tokens[..., 1:]  # (steps, K, B, T) each


def agreement(size: str, k: int, steps: int = 4) -> float:
    """Largest |loss difference| between the stacked step and K plain models, over ``steps``."""
    models = make_models(size, k, seed=0)
    plain = [copy.deepcopy(m) for m in models]
    opts = [torch.optim.AdamW(m.parameters(), lr=LR, betas=(0.9, 0.95), fused=True) for m in plain]
    stacked = Stacked(models)
    xs, ys = batches(k, steps, seed=1)
    worst = 0.0
    for s in range(steps):
        together = stacked.step(xs[s], ys[s])
        pairs = enumerate(zip(plain, opts, strict=True))
        alone = [plain_step(m, o, xs[s][i], ys[s][i]) for i, (m, o) in pairs]
        worst = max(worst, float((together - torch.stack(alone)).abs().max()))
    return worst


def tokens_per_s(size: str, k: int, steps: int) -> tuple[float, float]:
    """(plain, stacked) tokens per second per model over ``steps`` steps each, after 3 warm-up."""
    xs, ys = batches(k, steps + 3, seed=2)
    model = make_models(size, 1, seed=0)[0]
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), fused=True)
    for s in range(3):
        plain_step(model, opt, xs[s][0], ys[s][0])
    t0 = time.perf_counter()
    for s in range(3, steps + 3):
        plain_step(model, opt, xs[s][0], ys[s][0])
    plain = steps * BATCH * SEQ / (time.perf_counter() - t0)
    stacked = Stacked(make_models(size, k, seed=0))
    for s in range(3):
        stacked.step(xs[s], ys[s])
    t0 = time.perf_counter()
    for s in range(3, steps + 3):
        stacked.step(xs[s], ys[s])
    together = steps * BATCH * SEQ / (time.perf_counter() - t0)  # each model saw these tokens
    return plain, together


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["gpt-10k", "gpt-100k"])
    p.add_argument("--k", nargs="+", type=int, default=[2, 4, 8], help="models stacked together")
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--rounds", type=int, default=3, help="alternating plain/stacked rounds")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for size in args.sizes:
        for k in args.k:
            diff = agreement(size, k)
            ratios, plains, togethers = [], [], []
            for _ in range(args.rounds):
                plain, together = tokens_per_s(size, k, args.steps)
                plains.append(plain)
                togethers.append(together)
                ratios.append(together / plain)
            ratio = statistics.median(ratios)
            print(
                f"{size} K={k}: plain {statistics.median(plains):,.0f} tokens/s, stacked "
                f"{statistics.median(togethers):,.0f} tokens/s per model ({ratio:.2f}x; rounds "
                f"{', '.join(f'{r:.2f}' for r in ratios)}); its losses match K plain models' "
                f"to {diff:.1e}",
                flush=True,
            )
            results.append(f"batched_{size}_k{k}={ratio:.2f}")
    print(" ".join(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
