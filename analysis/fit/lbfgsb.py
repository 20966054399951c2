"""A lean driver of scipy's L-BFGS-B routine, for the thousands of tiny refits of a bootstrap.

``scipy.optimize.minimize`` wraps each objective call in bookkeeping (ScalarFunction, result
objects) that costs more than our 5-parameter objective itself: on the main job's fit about 60 %
of a bootstrap's time. This calls the same compiled routine (``setulb``) with the same inputs,
so the iterates, and every fitted value, are identical; where scipy's private routine is missing
or has another signature it falls back to ``minimize``.

    fun, x, nit = lbfgsb(huber_objective, x0, (logx, logy, delta), box, ftol, gtol, maxiter)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize

try:  # private: checked once below, with a fallback
    from scipy.optimize import _lbfgsb
except ImportError:  # pragma: no cover - depends on the scipy build
    _lbfgsb = None

MAXCOR = 10
"""Correction pairs kept (scipy's default ``maxcor``)."""
MAXLS = 20
"""Line-search steps per iteration (scipy's default ``maxls``)."""
NEW_X, FG, STOP = 1, 3, 5
"""``task[0]`` codes of setulb: a new iterate; f and g wanted at x; stop."""


def _scipy(fun, x0, args, box, ftol, gtol, maxiter) -> tuple[float, np.ndarray, int]:
    opts = {"ftol": ftol, "gtol": gtol, "maxiter": maxiter, "maxfun": 10 * maxiter}
    res = minimize(fun, x0, args=args, jac=True, method="L-BFGS-B", bounds=box, options=opts)
    return float(res.fun), np.asarray(res.x, dtype=float), int(res.nit)


def _direct(fun, x0, args, box, ftol, gtol, maxiter) -> tuple[float, np.ndarray, int]:
    """scipy's ``_minimize_lbfgsb`` loop for finite bounds, a jac=True objective, no callback."""
    n, m = len(x0), MAXCOR
    low, high = (np.ascontiguousarray(v) for v in np.array(box, dtype=np.float64).T)
    x = np.clip(np.asarray(x0, dtype=np.float64), low, high)
    nbd = np.full(n, 2, dtype=np.int32)  # 2: bounded below and above
    f = np.array(0.0)
    g = np.zeros(n)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task, ln_task = np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.int32)
    lsave, isave, dsave = np.zeros(4, np.int32), np.zeros(44, np.int32), np.zeros(29)
    factr = ftol / np.finfo(float).eps
    nit, nfev, maxfun = 0, 0, 10 * maxiter  # nfev: evaluations, x0's included, as scipy's
    while True:
        _lbfgsb.setulb(m, x, low, high, nbd, f, g, factr, gtol, wa, iwa, task, lsave, isave,
                       dsave, MAXLS, ln_task)  # fmt: skip
        if task[0] == FG:
            f, g = fun(x, *args)
            g = np.asarray(g, dtype=np.float64)
            nfev += 1
        elif task[0] == NEW_X:
            nit += 1
            if nit >= maxiter:
                task[:] = STOP, 504  # scipy's codes: stop, iteration limit
            elif nfev > maxfun:
                task[:] = STOP, 502
        else:
            break
    return float(f), x.copy(), nit


def _usable() -> bool:
    """Whether ``_direct`` reproduces ``minimize`` on a small bounded problem."""
    if _lbfgsb is None or not hasattr(_lbfgsb, "setulb"):
        return False

    def quad(x):
        return float(((x - 0.3) ** 2).sum()), 2 * (x - 0.3)

    box = [(-1.0, 1.0), (0.5, 2.0)]
    try:
        got = _direct(quad, np.array([0.9, 1.5]), (), box, 1e-15, 1e-15, 100)
    except Exception:  # noqa: BLE001 - any failure of a private routine means: use minimize
        return False
    want = _scipy(quad, np.array([0.9, 1.5]), (), box, 1e-15, 1e-15, 100)
    return got[0] == want[0] and np.array_equal(got[1], want[1]) and got[2] == want[2]


_DIRECT = _usable()


def lbfgsb(
    fun: Callable, x0: np.ndarray, args: tuple, box, ftol: float, gtol: float, maxiter: int
) -> tuple[float, np.ndarray, int]:
    """Minimise ``fun(x, *args) -> (f, grad)`` in ``box``; returns (f, x, iterations)."""
    driver = _direct if _DIRECT else _scipy
    return driver(fun, x0, args, box, ftol, gtol, maxiter)
