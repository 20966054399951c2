"""Every training method runs as a sweep trial through real Ray Tune + Ray Train, and learns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from contract.metrics import EVAL_LOSS
from sweeps.cli import main

SYNTHETIC = {"dataset": {"type": "synthetic", "vocab_size": 16, "order": 1, "num_tokens": 60_000}}
METHODS = {
    "lm": {
        "model": {"size": "gpt-20k", "seq_len": 32},
        "data": SYNTHETIC,
        "task": {"type": "lm"},
        "trainer": {"batch_size": 8, "max_tokens": 16384},
    },
    "mlm": {
        "model": {"size": "gpt-20k", "seq_len": 32},
        "data": SYNTHETIC,
        "task": {"type": "mlm"},
        "trainer": {"batch_size": 8, "max_tokens": 16384},
    },
    "regression": {
        "model": {"size": "mlp-5k"},
        "task": {"type": "regression"},
        "trainer": {"batch_size": 64, "epochs": 4},
    },
    "diffusion": {
        "model": {"size": "mlp-5k"},
        "task": {"type": "diffusion"},
        "trainer": {"batch_size": 128, "epochs": 4},
    },
    "classify": {
        "model": {"size": "gpt-20k", "seq_len": 32},
        "data": SYNTHETIC,
        "task": {"type": "classify", "num_classes": 2, "num_sequences": 1024, "separation": 1.0},
        "trainer": {"batch_size": 16, "epochs": 2},
    },
}


@pytest.mark.ray
@pytest.mark.parametrize("method", list(METHODS))
def test_method_trains_through_ray_and_its_loss_falls(ray_session, tmp_path: Path, method):
    spec = {"name": method, "optim": {"lr": 3e-3}, **METHODS[method]}
    spec["trainer"] = {**spec["trainer"], "eval_interval_steps": None}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main([str(path), "--storage", str(tmp_path)]) == 0
    trials = pd.read_csv(tmp_path / method / "trials.csv")
    curve = pd.read_csv(tmp_path / method / "curves.csv").sort_values("step")
    assert trials["status"].tolist() == ["TERMINATED"]
    assert len(curve) >= 3
    assert curve[EVAL_LOSS].iloc[-1] < 0.98 * curve[EVAL_LOSS].iloc[0]
