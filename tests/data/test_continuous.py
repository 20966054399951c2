"""Generated point clouds and regression sets: shapes, standardisation, seeds, noise floor."""

from __future__ import annotations

import pytest
import torch

from data.continuous import POINT_CLOUDS, REGRESSION_TARGETS, point_cloud, regression_set


@pytest.mark.parametrize("kind", POINT_CLOUDS)
def test_point_clouds_are_standardised_and_seeded(kind):
    points = point_cloud(kind, 2000, noise=0.05, seed=0)
    assert points.shape == (2000, 2) and points.dtype == torch.float32
    assert torch.allclose(points.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(points.std(0), torch.ones(2), atol=1e-3)
    assert torch.equal(points, point_cloud(kind, 2000, noise=0.05, seed=0))
    assert not torch.equal(points, point_cloud(kind, 2000, noise=0.05, seed=1))


def test_gaussians_cluster_around_their_modes():
    points = point_cloud("gaussians", 4000, noise=0.01, seed=0)
    radius = points.norm(dim=1)
    assert radius.std() / radius.mean() < 0.05  # all on one ring


@pytest.mark.parametrize("target", REGRESSION_TARGETS)
def test_regression_targets_have_unit_signal_and_the_stated_noise(target):
    x, y = regression_set(target, 20_000, d_in=5, d_out=2, num_components=16, noise=0.3, seed=0)
    assert x.shape == (20_000, 5) and y.shape == (20_000, 2)
    _, clean = regression_set(target, 20_000, d_in=5, d_out=2, num_components=16, noise=0.0, seed=0)
    assert torch.allclose(clean.std(0), torch.ones(2), atol=1e-3)
    assert (y - clean).std().item() == pytest.approx(0.3, rel=0.02)
    assert not torch.equal(clean, regression_set(target, 20_000, 5, 2, 16, 0.0, seed=1)[1])


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="valid: moons, gaussians, swiss_roll"):
        point_cloud("spiral", 10, 0.1, 0)
    with pytest.raises(ValueError, match="valid: fourier, teacher"):
        regression_set("sine", 10, 2, 1, 4, 0.1, 0)
