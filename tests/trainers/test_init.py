"""The trainer registry, and that importing trainers stays free of Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import trainers
from trainers import lm

REPO = Path(__file__).resolve().parents[2]


def test_registry_resolves_lm():
    assert trainers.get_trainer("lm") is lm.train
    assert trainers.TRAINERS["lm"] is lm.train


def test_unknown_trainer_lists_valid_names():
    with pytest.raises(ValueError, match=r"trainer.task 'mlm' is not a known trainer; valid: lm"):
        trainers.get_trainer("mlm")


def test_importing_trainers_does_not_import_ray():
    code = "import sys, trainers, trainers.lm; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
