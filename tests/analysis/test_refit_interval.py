"""A refit's prediction interval covers held-out points at the rate it claims.

A correct power law refitted on two decades of sizes and asked for the next 0.3-1 decade: with
its parameters' uncertainty carried to the held-out points (``param_sd``) the 95 % interval
covers about 95 % of them; the in-sample scatter alone covers far fewer, which is why the
calibration check once called correct laws over-confident.
"""

import numpy as np
import pandas as pd
from scipy import stats

from analysis.checks.backtest import score_refit
from analysis.checks.calibration import miscoverage


def _refits(seeds: int = 40):
    rng = np.random.default_rng(0)
    train_x = np.repeat(np.logspace(3, 5, 9), 2)
    test_x = np.logspace(5.3, 6, 3)
    xs = np.concatenate([train_x, test_x])
    for _ in range(seeds):
        loss = (1.0 + 30 * xs**-0.4) * np.exp(rng.normal(0, 0.01, len(xs)))
        df = pd.DataFrame({"id": np.arange(len(xs)), "N": xs, "loss": loss})
        yield score_refit(df.iloc[: len(train_x)], df.iloc[len(train_x) :], "power", "N", "N", None)


def test_parameter_uncertainty_makes_the_interval_cover_at_its_claimed_rate():
    new_inside = old_inside = total = 0
    for bt in _refits():
        log_err = np.abs(np.log1p(bt.table["rel_error"].to_numpy(float)))
        sd = bt.table["param_sd"].to_numpy(float)
        assert np.all(sd > 0) and np.all(np.diff(sd) > 0)  # grows with the distance
        t = stats.t.ppf(0.975, bt.dof)
        new_inside += int(np.sum(log_err <= t * np.sqrt(bt.sigma**2 + sd**2)))
        old_inside += int(np.sum(log_err <= 1.96 * bt.sigma))
        total += len(log_err)
    assert 0.88 <= new_inside / total <= 1.0
    assert old_inside / total < 0.85


def test_miscoverage_counts_with_the_parameter_term():
    refits = list(_refits(20))
    outside, counted = miscoverage(refits)
    assert counted == 60 and outside / counted <= 0.12
    no_term = [bt._replace(table=bt.table.drop(columns="param_sd")) for bt in refits]
    assert miscoverage(no_term)[0] > outside
