"""A refit's own prediction interval at the points it did not see: scatter plus its parameters.

A backtest refits a law on part of a sweep and predicts the rest. How far may a held-out point
stray before the refit was wrong about itself? Its in-sample scatter alone understates it: an
extrapolation to the next budget also carries the refit's own parameter uncertainty, which
grows with the distance from the points it saw. Linearised at the refit,

    var(log L_pred(x)) = g(x)^T  sigma^2 (J^T J)^+  g(x)

with J the gradient of log L over the parameters at the training points and g(x) at the held-out
one (the standard delta-method prediction variance of non-linear least squares). A held-out
point's 95 % interval is then ``t_dof * sqrt(sigma^2 + var)`` in log loss.

    sd = parameter_sd(fit, train, test, x="N")     # log-loss sd of each held-out prediction
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.laws.forms import ChinchillaFit

RELATIVE_STEP = 1e-5
"""Central-difference step of each parameter, relative to its size (absolute below 1e-3)."""


def log_predict(fit, frame: pd.DataFrame, x: str) -> np.ndarray:
    """Log of the law's loss at each row of ``frame`` (N and D for Approach 3, else ``x``)."""
    if isinstance(fit, ChinchillaFit):
        out = fit.predict(frame["N"].to_numpy(float), frame["D"].to_numpy(float))
    else:
        out = fit.predict(frame[x].to_numpy(float))
    return np.log(np.maximum(np.asarray(out, dtype=float), 1e-300))


def log_gradient(fit, frame: pd.DataFrame, x: str) -> np.ndarray:
    """d log L / d parameter at each row of ``frame`` (rows x parameters)."""
    names = list(fit.params)
    cols = []
    for name in names:
        value = float(fit.params[name])
        h = RELATIVE_STEP * max(abs(value), 1e-3)
        up = log_predict(fit._replace(**{name: value + h}), frame, x)
        down = log_predict(fit._replace(**{name: value - h}), frame, x)
        cols.append((up - down) / (2 * h))
    return np.column_stack(cols)


def parameter_sd(fit, train: pd.DataFrame, test: pd.DataFrame, x: str, sigma: float) -> np.ndarray:
    """Log-loss standard deviation of the refit's prediction at each ``test`` row due to its
    parameters' uncertainty (NaN where ``sigma`` is not finite). A direction the training
    points do not constrain (a pseudo-inverse's null space) adds nothing, so an unidentified
    parameter is the identification check's to flag, not this one's."""
    if not np.isfinite(sigma):
        return np.full(len(test), np.nan)
    J = log_gradient(fit, train, x)
    G = log_gradient(fit, test, x)
    cov = sigma**2 * np.linalg.pinv(J.T @ J, rcond=1e-10, hermitian=True)
    var = np.einsum("ij,jk,ik->i", G, cov, G)
    return np.sqrt(np.maximum(var, 0.0))
