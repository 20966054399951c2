"""Law forms: predictions and the closed-form compute-optimal allocation of Approach 3."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.laws.forms import ChinchillaFit, PowerLawFit, chinchilla_arrays, derive_missing


def test_power_law_predict():
    fit = PowerLawFit(E=1.5, A=100.0, alpha=0.5, x="N")
    np.testing.assert_allclose(fit.predict([1e4, 1e6]), [2.5, 1.6])


def test_compute_optimal_allocation_minimises_loss_on_the_isoflop(true_law):
    C = 1e22
    n_opt, d_opt = true_law.n_opt(C), true_law.d_opt(C)
    assert 6 * n_opt * d_opt == pytest.approx(C)
    N = n_opt * np.geomspace(0.5, 2.0, 41)
    losses = true_law.predict(N, C / (6 * N))
    assert np.argmin(losses) == 20  # the middle of the grid, i.e. N = n_opt
    assert true_law.loss_opt(C) == pytest.approx(losses.min())
    assert true_law.a + true_law.b == pytest.approx(1.0)
    assert true_law.a == pytest.approx(0.28 / 0.62)


def test_tokens_per_param_scales_with_exponent_difference(true_law):
    ratio = true_law.tokens_per_param(1e24) / true_law.tokens_per_param(1e22)
    assert ratio == pytest.approx(100.0 ** (true_law.b - true_law.a))


def test_vectorised_arrays_match_the_methods(true_law):
    other = ChinchillaFit(E=1.8, A=480.0, B=2000.0, alpha=0.35, beta=0.37)
    params = np.array([list(true_law.params.values()), list(other.params.values())])
    out = chinchilla_arrays(params, 1e23)
    for i, fit in enumerate((true_law, other)):
        assert out["a"][i] == pytest.approx(fit.a)
        assert out["N_opt"][i] == pytest.approx(fit.n_opt(1e23))
        assert out["tokens_per_param"][i] == pytest.approx(fit.tokens_per_param(1e23))
        assert out["loss_opt"][i] == pytest.approx(fit.loss_opt(1e23))


def test_derive_missing_uses_six_nd():
    N, D, C = derive_missing(np.array([1e9]), None, np.array([1.2e20]))
    assert D[0] == pytest.approx(2e10)
    N, D, C = derive_missing(np.array([1e9]), np.array([2e10]), None)
    assert C[0] == pytest.approx(1.2e20)
    assert derive_missing(None, None, np.array([1.0]))[0] is None
