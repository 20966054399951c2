"""Backtests refit without the largest runs and report the error on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.checks.backtest import backtest, holdout_count


def test_chinchilla_backtest_reports_its_error(epoch_points):
    bt = backtest(epoch_points, "chinchilla", holdout=0.1)
    assert (bt.key, bt.n_train, bt.n_holdout) == ("C", 216, 24)
    assert bt.cutoff == epoch_points["C"].sort_values().iloc[-24]
    assert len(bt.table) == 24 and bt.table["C"].min() == bt.cutoff
    np.testing.assert_allclose(bt.table["rel_error"], bt.table["predicted"] / bt.table["loss"] - 1)
    # Measured: ~1% mean error on the 24 largest-compute Chinchilla runs.
    assert 0.002 < bt.mean_abs_rel_error < 0.03
    assert bt.max_abs_rel_error >= bt.mean_abs_rel_error


def test_power_backtest_on_the_true_law_is_within_noise():
    rng = np.random.default_rng(4)
    N = np.geomspace(1e7, 1e10, 30)
    loss = (1.8 + 400 * N**-0.34) * np.exp(rng.normal(0.0, 0.003, N.size))
    pts = pd.DataFrame({"id": range(30), "N": N, "loss": loss})
    bt = backtest(pts, "power", holdout=5, x="N")
    assert bt.n_holdout == 5 and bt.cutoff == pytest.approx(N[-5])
    assert bt.mean_abs_rel_error < 0.01


def test_holdout_count():
    assert holdout_count(10, None) == 0  # too few runs: no automatic backtest
    assert holdout_count(240, None) == 24
    assert holdout_count(25, None) == 3
    assert holdout_count(240, 5) == 5
    assert holdout_count(240, 0.25) == 60
    assert holdout_count(240, 0) == 0
    with pytest.raises(ValueError, match="--holdout-largest: 2.5"):
        holdout_count(240, 2.5)
    with pytest.raises(ValueError, match="--holdout-largest must be >= 0"):
        holdout_count(240, -1)


def test_holdout_that_leaves_too_few_runs(epoch_points):
    with pytest.raises(ValueError, match="leaves too few"):
        backtest(epoch_points.iloc[:8], "chinchilla", holdout=4)
