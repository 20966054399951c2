"""Generated continuous data sets for regression and diffusion trials (offline, seeded, no Ray).

Point clouds (two moons, a ring of Gaussians, a swiss roll) are what a small denoising
diffusion model learns to sample; regression sets pair Gaussian inputs with a seeded random
smooth target whose noise level is known, so the best reachable MSE (the scaling-law floor)
is `noise**2`. Every set is a pure function of its arguments.

    points = point_cloud("moons", num_samples=4096, noise=0.05, seed=0)        # (4096, 2)
    x, y = regression_set("fourier", 4096, d_in=8, d_out=1, num_components=32,
                          noise=0.1, seed=0)                                    # (4096, 8), (4096, 1)
"""

from __future__ import annotations

import math

import numpy as np
import torch

POINT_CLOUDS = ("moons", "gaussians", "swiss_roll")
"""Names accepted by `point_cloud`."""
REGRESSION_TARGETS = ("fourier", "teacher")
"""Names accepted by `regression_set`: a random Fourier-feature function or a random MLP."""
GAUSSIAN_MODES = 8
"""Modes of the `gaussians` cloud, evenly spaced on a circle of radius 2."""

# Independent random streams, so changing one part of a set never reshuffles another.
_POINTS, _INPUTS, _FUNCTION, _NOISE = 0, 1, 2, 3


def _standardise(values: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation per column (N, D) -> (N, D)."""
    std = values.std(axis=0, keepdims=True)
    return (values - values.mean(axis=0, keepdims=True)) / np.where(std > 0, std, 1.0)


def point_cloud(kind: str, num_samples: int, noise: float, seed: int) -> torch.Tensor:
    """(num_samples, 2) float32 points of the named cloud, standardised per axis.

    `noise` is the standard deviation of the Gaussian jitter added to every point before
    standardisation (for `gaussians`, each mode's standard deviation).
    """
    if kind not in POINT_CLOUDS:
        raise ValueError(f"point cloud {kind!r} is unknown; valid: {', '.join(POINT_CLOUDS)}")
    if num_samples < 2 or noise < 0:
        raise ValueError(f"point_cloud needs num_samples >= 2 and noise >= 0, got {num_samples}")
    rng = np.random.default_rng([seed, _POINTS])
    if kind == "moons":
        upper = num_samples // 2
        t = rng.uniform(0.0, math.pi, num_samples)  # (N,)
        x = np.where(np.arange(num_samples) < upper, np.cos(t), 1.0 - np.cos(t))
        y = np.where(np.arange(num_samples) < upper, np.sin(t), 0.5 - np.sin(t))
        points = np.stack([x, y], axis=1)  # (N, 2)
    elif kind == "gaussians":
        mode = rng.integers(0, GAUSSIAN_MODES, num_samples)  # (N,)
        angle = 2 * math.pi * mode / GAUSSIAN_MODES
        points = 2.0 * np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (N, 2)
    else:
        t = 1.5 * math.pi * (1.0 + 2.0 * rng.random(num_samples))  # (N,) angle = radius
        points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3.0 * math.pi)
    points = points + noise * rng.standard_normal(points.shape)
    points = points[rng.permutation(num_samples)]  # mix the two moons' halves
    return torch.from_numpy(_standardise(points).astype(np.float32))


def regression_set(
    target: str,
    num_samples: int,
    d_in: int,
    d_out: int,
    num_components: int,
    noise: float,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs x (N, d_in) ~ N(0, I) and targets y (N, d_out) = f(x) + noise * N(0, I).

    f is seeded by `seed` and standardised to unit variance per output, so `noise**2` is the
    irreducible MSE. fourier: f(x) = sum_k a_k sin(w_k . x + b_k) over `num_components` random
    frequencies of unit scale (smooth, many bumps). teacher: a random one-hidden-layer tanh
    network with `num_components` hidden units (the student-teacher set-up).
    """
    if target not in REGRESSION_TARGETS:
        raise ValueError(
            f"regression target {target!r} is unknown; valid: {', '.join(REGRESSION_TARGETS)}"
        )
    x = np.random.default_rng([seed, _INPUTS]).standard_normal((num_samples, d_in))  # (N, d_in)
    rng = np.random.default_rng([seed, _FUNCTION])
    # Weights scaled by 1/sqrt(d_in) give every pre-activation unit variance whatever d_in is.
    w = rng.standard_normal((d_in, num_components)) / math.sqrt(d_in)  # (d_in, K)
    a = rng.standard_normal((num_components, d_out)) / math.sqrt(num_components)  # (K, d_out)
    if target == "fourier":
        b = rng.uniform(0.0, 2 * math.pi, num_components)  # (K,)
        hidden = np.sin(2.0 * (x @ w) + b)  # (N, K)
    else:
        b = 0.1 * rng.standard_normal(num_components)  # (K,)
        hidden = np.tanh(x @ w + b)  # (N, K)
    signal = _standardise(hidden @ a)  # (N, d_out)
    y = signal + noise * np.random.default_rng([seed, _NOISE]).standard_normal(signal.shape)
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
