"""Learning-rate schedule shapes of OptimConfig.lr_at: warmup, then cosine, wsd or constant."""

from __future__ import annotations

import pytest

from trainers.config import OptimConfig

TOTAL = 100


def lrs(cfg: OptimConfig) -> list[float]:
    return [cfg.lr_at(step, TOTAL) for step in range(TOTAL)]


@pytest.mark.parametrize("schedule", ["cosine", "wsd", "constant"])
def test_warmup_rises_linearly_to_the_peak(schedule):
    cfg = OptimConfig(lr=1.0, warmup_fraction=0.1, schedule=schedule)
    warm = lrs(cfg)[:10]
    assert warm == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert cfg.lr_at(10, TOTAL) == pytest.approx(1.0)


def test_cosine_decays_monotonically_to_the_floor():
    cfg = OptimConfig(lr=2.0, warmup_fraction=0.1, schedule="cosine", min_lr_ratio=0.1)
    decay = lrs(cfg)[10:]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))
    assert decay[-1] == pytest.approx(0.2, abs=1e-3)
    assert cfg.lr_at(TOTAL, TOTAL) == pytest.approx(0.2)
    # Halfway through the decay a cosine sits halfway between peak and floor.
    assert cfg.lr_at(55, TOTAL) == pytest.approx(1.1)


def test_wsd_holds_the_peak_then_decays_linearly():
    cfg = OptimConfig(
        lr=1.0, warmup_fraction=0.1, schedule="wsd", cooldown_fraction=0.2, min_lr_ratio=0.0
    )
    values = lrs(cfg)
    assert values[10:80] == pytest.approx([1.0] * 70)
    assert values[90] == pytest.approx(0.5)
    assert cfg.lr_at(TOTAL, TOTAL) == pytest.approx(0.0)


def test_constant_without_warmup_is_flat():
    cfg = OptimConfig(lr=3e-3, warmup_fraction=0.0, schedule="constant")
    assert lrs(cfg) == [3e-3] * TOTAL
