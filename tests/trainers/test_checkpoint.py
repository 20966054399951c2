"""Checkpoint folders: atomic writes, weights-only loading, latest/best/final bookkeeping."""

from __future__ import annotations

import pytest
import torch

from trainers.checkpoint import (
    STATE_FILE,
    CheckpointError,
    CheckpointManager,
    load_state,
    resume_folder,
    save_state,
)


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


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":  # one bit of a weight (2.0 is 00 00 00 40 in float32 LE)
        at = data.index(b"\x00\x00\x00@") + 3
        path.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])
    else:
        path.write_bytes(b"\x00garbage" * 10)


@pytest.mark.parametrize("how", ["truncated", "flipped", "garbage"])
def test_damaged_latest_falls_back_to_previous_with_a_line(tmp_path, capsys, how):
    ckpts = CheckpointManager(tmp_path, keep=False)
    ckpts.save_latest(_state(1), eval_loss=2.0)
    ckpts.save_latest(_state(2), eval_loss=1.0)
    assert load_state(resume_folder(tmp_path))["step"] == 2
    _damage(tmp_path / "latest" / STATE_FILE, how)
    folder = resume_folder(tmp_path)
    assert folder == tmp_path / "previous" and load_state(folder)["step"] == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "latest" / STATE_FILE) in err and "previous" in err


def test_no_usable_checkpoint_fails_naming_the_file(tmp_path):
    ckpts = CheckpointManager(tmp_path, keep=False)
    ckpts.save_latest(_state(1), eval_loss=2.0)
    _damage(tmp_path / "latest" / STATE_FILE, "garbage")
    with pytest.raises(CheckpointError, match=str(tmp_path / "latest" / STATE_FILE)):
        resume_folder(tmp_path)
    with pytest.raises(CheckpointError, match="latest/state.pt is unreadable"):
        load_state(tmp_path / "latest")
    assert resume_folder(tmp_path / "empty") is None


def test_full_disk_while_checkpointing_names_the_file_and_leaves_no_temporary(
    tmp_path, monkeypatch
):
    ckpts = CheckpointManager(tmp_path, keep=False)
    ckpts.save_latest(_state(1), eval_loss=2.0)

    def full_disk(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match="no space left on device") as info:
        ckpts.save_latest(_state(2), eval_loss=1.0)
    assert STATE_FILE in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]
    assert [p.name for p in (tmp_path / "latest").iterdir()] == [STATE_FILE]
    assert load_state(tmp_path / "latest")["step"] == 1


class _DriverDied(Exception):
    """The report of a checkpointed step never reached the driver."""


def test_a_resumed_trial_reports_the_checkpointed_step_again(make_cfg, tmp_path):
    from trainers.lm import train
    from trainers.ray_worker import TrialReporter
    from trainers.reporter import Context

    cfg = make_cfg(8, eval_interval_steps=2)
    delivered: list[dict] = []

    def dies_at_step_4(metrics: dict) -> None:
        if metrics["step"] == 4:
            raise _DriverDied
        delivered.append(metrics)

    ctx = Context(trial_dir=str(tmp_path), num_threads=1)
    with pytest.raises(_DriverDied):
        train(cfg, TrialReporter(tmp_path, dies_at_step_4), ctx)
    assert [m["step"] for m in delivered] == [2]  # step 4 is checkpointed, not delivered
    train(cfg, TrialReporter(tmp_path, delivered.append), ctx)
    assert [m["step"] for m in delivered] == [2, 4, 6, 8]
