"""The lean L-BFGS-B driver reproduces scipy's minimize exactly, so fits do not change."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.fit import lbfgsb
from analysis.fit.power_sums import FitConfig, best_grid_starts, bounds, huber_objective


@pytest.mark.parametrize("maxiter", [15_000, 4])
def test_lean_driver_gives_minimize_s_iterates(epoch_points, maxiter):
    assert lbfgsb._DIRECT  # the installed scipy exposes the routine the driver calls
    logx = np.log(epoch_points[["N", "D"]].to_numpy(float)).T
    logy = np.log(epoch_points["loss"].to_numpy(float))
    cfg = FitConfig()
    args, box = (logx, logy, cfg.huber_delta), bounds(2, cfg)
    for x0 in best_grid_starts(logx, logy, cfg, 6):
        want = lbfgsb._scipy(huber_objective, x0, args, box, cfg.ftol, cfg.gtol, maxiter)
        got = lbfgsb._direct(huber_objective, x0, args, box, cfg.ftol, cfg.gtol, maxiter)
        assert got[0] == want[0] and np.array_equal(got[1], want[1]) and got[2] == want[2]
