"""Checkpoint folders: atomic writes, weights-only loading, latest/best/final bookkeeping."""

from __future__ import annotations

import pytest
import torch

from trainers.checkpoint import STATE_FILE, CheckpointManager, load_state, save_state


def _state(step: int) -> dict:
    return {"step": step, "model": {"w": torch.full((2, 3), float(step))}, "hist": [1.5, None]}


def test_state_round_trips_through_weights_only_load(tmp_path):
    folder = save_state(tmp_path / "ckpt", _state(7))
    raw = torch.load(tmp_path / "ckpt" / STATE_FILE, weights_only=True)
    assert raw["step"] == 7 and raw["hist"] == [1.5, None]
    assert torch.equal(load_state(folder)["model"]["w"], torch.full((2, 3), 7.0))
    # The temporary file of the atomic write is gone.
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == [STATE_FILE]


def test_missing_checkpoint_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere has no state.pt"):
        load_state(tmp_path / "nowhere")


def test_manager_keeps_best_by_eval_loss_and_final(tmp_path):
    ckpts = CheckpointManager(tmp_path, keep=True)
    for step, loss in [(1, 3.0), (2, 2.0), (3, 2.5)]:
        assert ckpts.save_latest(_state(step), eval_loss=loss) == str(tmp_path / "latest")
    assert ckpts.best_eval_loss == 2.0
    assert load_state(tmp_path / "best")["step"] == 2
    assert ckpts.finalize() == str(tmp_path / "final")
    assert load_state(tmp_path / "final")["step"] == 3 == load_state(tmp_path / "latest")["step"]


def test_manager_without_keep_writes_only_latest(tmp_path):
    ckpts = CheckpointManager(tmp_path, keep=False)
    ckpts.save_latest(_state(1), eval_loss=1.0)
    assert ckpts.finalize() is None
    assert [p.name for p in tmp_path.iterdir()] == ["latest"]


def test_resumed_manager_only_replaces_best_on_improvement(tmp_path):
    ckpts = CheckpointManager(tmp_path, keep=True, best_eval_loss=1.0)
    ckpts.save_latest(_state(5), eval_loss=1.5)
    assert not (tmp_path / "best").exists() and ckpts.best_eval_loss == 1.0
