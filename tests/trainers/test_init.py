"""The trainer registry, and that importing trainers stays free of Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import trainers
from trainers import classify, diffusion, lm, mlm, regression
from trainers.tasks import TASKS

REPO = Path(__file__).resolve().parents[2]


def test_registry_resolves_every_task():
    modules = {"lm": lm, "mlm": mlm, "regression": regression, "diffusion": diffusion}
    modules["classify"] = classify
    for name, module in modules.items():
        assert trainers.get_trainer(name) is module.train
    assert set(modules) == set(TASKS)


def test_unknown_trainer_lists_valid_names():
    with pytest.raises(ValueError, match=r"task.type 'gan' is not a known task; valid: cl"):
        trainers.get_trainer("gan")


def test_importing_trainers_does_not_import_ray():
    code = "import sys, trainers, trainers.lm; print('ray' in sys.modules)"
    # trainers imports every method (and matplotlib only when diffusion writes samples).
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
