"""Shared data for the analysis tests: Epoch's Chinchilla extraction and synthetic laws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.laws.forms import ChinchillaFit

EPOCH_CSV = Path(__file__).parent / "data" / "epoch_chinchilla.csv"
"""Epoch's extraction of the Chinchilla points (source in data/README.md), shipped with the tests."""
TRUE_LAW = ChinchillaFit(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
"""The law the Chinchilla paper reported; synthetic data are drawn from it."""


@pytest.fixture(scope="session")
def true_law() -> ChinchillaFit:
    return TRUE_LAW


@pytest.fixture(scope="session")
def epoch_csv() -> Path:
    return EPOCH_CSV


@pytest.fixture(scope="session")
def epoch_points(epoch_csv: Path) -> pd.DataFrame:
    """Epoch's 240-point set: the 5 highest losses dropped, D = C / (6 N)."""
    raw = pd.read_csv(epoch_csv).sort_values("loss", kind="stable").iloc[:-5]
    N, C = raw["Model Size"].to_numpy(float), raw["Training FLOP"].to_numpy(float)
    return pd.DataFrame(
        {
            "id": raw.index.astype(str),
            "N": N,
            "D": C / (6 * N),
            "C": C,
            "loss": raw["loss"].to_numpy(float),
        }
    )


@pytest.fixture(scope="session")
def grid_points() -> pd.DataFrame:
    """8 sizes x 8 token counts from TRUE_LAW with 0.5% log-normal noise."""
    rng = np.random.default_rng(0)
    N = np.repeat(np.geomspace(5e7, 5e9, 8), 8)
    D = np.tile(np.geomspace(1e9, 2e11, 8), 8)
    loss = TRUE_LAW.predict(N, D) * np.exp(rng.normal(0.0, 0.005, N.size))
    return pd.DataFrame(
        {"id": [f"t{i}" for i in range(N.size)], "N": N, "D": D, "C": 6 * N * D, "loss": loss}
    )


@pytest.fixture(scope="session")
def isoflop_points() -> pd.DataFrame:
    """An IsoFLOP sweep of TRUE_LAW: 5 budgets x 9 sizes spanning 0.1x-10x of N_opt."""
    rng = np.random.default_rng(1)
    rows = []
    for C in np.geomspace(1e17, 1e21, 5):
        for N in TRUE_LAW.n_opt(C) * np.geomspace(0.1, 10.0, 9):
            loss = float(TRUE_LAW.predict(N, C / (6 * N))) * np.exp(rng.normal(0.0, 0.002))
            # Real budgets are hit only approximately (whole steps, batch rounding).
            rows.append(
                {"N": N, "D": C / (6 * N), "C": C * (1 + rng.normal(0.0, 0.01)), "loss": loss}
            )
    return pd.DataFrame(rows).assign(id=lambda d: [f"r{i}" for i in range(len(d))])


def _write_sweep(folder: Path, law: ChinchillaFit, metric: str = "eval/loss") -> Path:
    """A sweep folder as the runner writes it: 16 finished trials and 4 that must be excluded."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yaml").write_text(
        f"name: toy\nsearch:\n  metric: {metric}\n  mode: min\n", encoding="utf-8"
    )
    rng = np.random.default_rng(5)
    trials, curves = [], []
    sizes = {"gpt-20m": 2e7, "gpt-60m": 6e7, "gpt-200m": 2e8, "gpt-600m": 6e8}
    for size, N in sizes.items():
        for fraction, D in zip((0.03, 0.1, 0.3, 1.0), (4e8, 1.2e9, 4e9, 1.2e10), strict=True):
            tid = f"{size}-{fraction}"
            steps = np.geomspace(D / 30, D, 6)
            losses = law.predict(N, steps) * np.exp(rng.normal(0.0, 0.003, steps.size))
            curves += [
                {
                    "trial_id": tid,
                    "step": i,
                    "tokens": t,
                    "flops": 6 * N * t,
                    "train/loss": v * 1.01,
                    metric: v,
                }
                for i, (t, v) in enumerate(zip(steps, losses, strict=True))
            ]
            trials.append(
                {
                    "trial_id": tid,
                    "stage": "main",
                    "status": "TERMINATED",
                    "model.size": size,
                    "data.fraction": fraction,
                    "trainer.lr": 3e-4,
                    "params": N,
                    "params_total": N * 1.2,
                    "tokens": D,
                    "flops": 6 * N * D,
                    metric: losses[-1],
                    f"best/{metric}": losses.min(),
                    "wall_s": 10.0,
                    "error": "",
                }
            )
    base = {
        "stage": "main",
        "model.size": "gpt-60m",
        "data.fraction": 1.0,
        "trainer.lr": 1e-2,
        "params": 6e7,
        "params_total": 7.2e7,
        "tokens": 1.2e10,
        "flops": 4.32e18,
        "wall_s": 5.0,
        "error": "",
    }
    trials += [
        {
            **base,
            "trial_id": "oom",
            "status": "ERROR",
            metric: np.nan,
            "error": "RuntimeError: CUDA out of memory",
        },
        {**base, "trial_id": "nan", "status": "TERMINATED", metric: np.nan},
        {**base, "trial_id": "asha", "status": "STOPPED", metric: 4.0},
        {**base, "trial_id": "blowup", "status": "TERMINATED", metric: 9.0},
    ]
    curves += [
        {
            "trial_id": "blowup",
            "step": i,
            "tokens": t,
            "flops": 3.6e8 * t,
            "train/loss": v,
            metric: v,
        }
        for i, (t, v) in enumerate(zip((1e9, 5e9, 1.2e10), (5.0, 4.0, 9.0), strict=True))
    ]
    pd.DataFrame(trials).to_csv(folder / "trials.csv", index=False)
    pd.DataFrame(curves).to_csv(folder / "curves.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def sweep_dir(tmp_path_factory, true_law) -> Path:
    return _write_sweep(tmp_path_factory.mktemp("sweeps") / "toy", true_law)


@pytest.fixture(scope="session")
def small_analysis(sweep_dir):
    """A full analysis of the toy sweep with a small bootstrap, shared by report/plot tests."""
    from analysis.fit.bootstrap import BootstrapConfig
    from analysis.fit_all import AnalysisConfig, run_analysis
    from analysis.load.sweep_tables import load_scaling_data

    cfg = AnalysisConfig(
        predict=({"N": 1e9, "D": 2e10}, {"C": 1e21}),
        bootstrap=BootstrapConfig(n_resamples=20, workers=1),
    )
    return run_analysis(load_scaling_data(sweep_dir), cfg)
