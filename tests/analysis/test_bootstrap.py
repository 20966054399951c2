"""Bootstrap: Epoch's published standard errors, and samples independent of worker count."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.fit.bootstrap import BootstrapConfig, bootstrap_theta, resample_indices, summarize
from analysis.fit.power_sums import FitConfig, fit_theta, to_natural

# Epoch's 4,000-resample SEs. E, alpha and beta were published to two decimals, so the SE they
# stand for lies within half a unit of the last digit; A and B were published to the cent.
PUBLISHED_SE = {
    "E": (0.03, 0.005),
    "A": (124.58, 0.005),
    "B": (1293.23, 0.005),
    "alpha": (0.02, 0.005),
    "beta": (0.02, 0.005),
}
LAYOUT = ("E", "A", "alpha", "B", "beta")


def test_epoch_bootstrap_standard_errors_within_25_percent(epoch_points):
    logx = np.log(epoch_points[["N", "D"]].to_numpy(float)).T
    logy = np.log(epoch_points["loss"].to_numpy(float))
    full = fit_theta(logx, logy, FitConfig())
    # 400 resamples: the SE of B (the noisiest, heavy-tailed) then varies by about +-15%
    # between seeds, inside the 25% band; the others vary by under 5%.
    samples = to_natural(
        bootstrap_theta(
            logx, logy, full.theta, FitConfig(), BootstrapConfig(n_resamples=400, workers=2, seed=0)
        )
    )
    assert np.isfinite(samples).all()
    se = dict(zip(LAYOUT, np.std(samples, axis=0, ddof=1), strict=True))
    for name, (published, half_unit) in PUBLISHED_SE.items():
        lo, hi = 0.75 * (published - half_unit), 1.25 * (published + half_unit)
        assert lo <= se[name] <= hi, (name, se[name], published)


def test_samples_do_not_depend_on_worker_count():
    rng = np.random.default_rng(3)
    X = np.geomspace(1e7, 1e10, 25)
    loss = (1.8 + 400 * X**-0.34) * np.exp(rng.normal(0.0, 0.01, X.size))
    logx, logy = np.log(X)[None], np.log(loss)
    full = fit_theta(logx, logy, FitConfig())
    one = bootstrap_theta(
        logx, logy, full.theta, FitConfig(), BootstrapConfig(n_resamples=6, workers=1)
    )
    two = bootstrap_theta(
        logx, logy, full.theta, FitConfig(), BootstrapConfig(n_resamples=6, workers=2)
    )
    assert one.shape == (6, 3)
    np.testing.assert_array_equal(one, two)
    assert not np.allclose(one[0], one[1])  # resamples differ from each other


def test_resample_indices_are_seeded_per_resample():
    a = resample_indices(50, seed=7, i=3)
    assert np.array_equal(a, resample_indices(50, seed=7, i=3))
    assert not np.array_equal(a, resample_indices(50, seed=7, i=4))
    assert a.min() >= 0 and a.max() < 50


def test_summarize_percentiles_and_se():
    samples = np.concatenate([np.arange(1000.0), [np.nan]])
    est = summarize(samples, point=500.0, level=0.9)
    assert est.value == 500.0
    assert est.lo == pytest.approx(49.95) and est.hi == pytest.approx(949.05)
    assert est.se == pytest.approx(np.std(np.arange(1000.0), ddof=1))
    assert np.isnan(summarize(np.array([]), 1.0).lo)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="level"):
        BootstrapConfig(level=1.5)
    with pytest.raises(ValueError, match="workers"):
        BootstrapConfig(workers=0)
