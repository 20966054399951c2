"""The learning-rate rule recovers a known exponent from simulated lr scans."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.laws.lr_rule import best_lr, fit_lr_rule

TRUE_C, TRUE_E = 2.0, -0.35
"""Simulated truth: lr*(N) = 2 N^-0.35."""


def _scan(sizes, lrs_per_size=7, noise=0.002, seed=0) -> pd.DataFrame:
    """Loss = floor(N) + 0.08 (log lr - log lr*(N))^2 with log-normal noise, lr on a grid
    of factor-2 steps around a deliberately off-centre guess."""
    rng = np.random.default_rng(seed)
    rows = []
    for N in sizes:
        star = TRUE_C * N**TRUE_E
        for lr in star * 1.3 * 2.0 ** np.arange(-(lrs_per_size // 2), lrs_per_size // 2 + 1):
            loss = (2.0 + 50 * N**-0.3 + 0.08 * math.log(lr / star) ** 2) * math.exp(
                rng.normal(0, noise)
            )
            rows.append({"id": f"{N:g}-{lr:g}", "N": N, "lr": lr, "loss": loss})
    return pd.DataFrame(rows)


def test_recovers_known_exponent_with_an_interval_that_covers_it():
    rule = fit_lr_rule(_scan(np.geomspace(1e4, 1e7, 5)), n_resamples=100)
    assert rule.exponent == pytest.approx(TRUE_E, abs=0.03)
    lo, hi = rule.exponent_interval
    assert lo <= TRUE_E <= hi and hi - lo < 0.2
    assert rule.predict(1e8) == pytest.approx(TRUE_C * 1e8**TRUE_E, rel=0.15)


def test_vertex_sits_between_grid_points():
    table = _scan([1e5], noise=0.0)
    v = best_lr(table)
    assert v.method == "parabola"
    assert v.lr == pytest.approx(TRUE_C * 1e5**TRUE_E, rel=0.02)  # grid steps are 2x apart


def test_held_out_regret_is_small_when_the_rule_holds():
    rule = fit_lr_rule(_scan(np.geomspace(1e4, 1e7, 5)), n_resamples=20)
    r = rule.regret
    assert r is not None and r["N"] == pytest.approx(1e7)
    assert r["predicted_lr"] == pytest.approx(TRUE_C * 1e7**TRUE_E, rel=0.2)
    assert abs(r["regret_pct"]) < 0.5  # interpolated on a noisy parabola: may dip below


def test_regret_is_large_when_the_largest_size_breaks_the_rule():
    table = _scan(np.geomspace(1e4, 1e7, 5))
    big = table["N"] == table["N"].max()
    table.loc[big, "loss"] = 2.1 + 0.08 * np.log(table.loc[big, "lr"] / 1e-5) ** 2
    r = fit_lr_rule(table, n_resamples=0).regret
    assert r["regret_pct"] > 5


def test_too_few_sizes_is_an_error():
    with pytest.raises(ValueError, match="need 3"):
        fit_lr_rule(_scan([1e4, 1e5]))
