"""Checkpoint folders on disk: `latest` for resuming, `best` by eval loss, `final` at the end.

A checkpoint is a folder holding one `state.pt` written with torch.save and read back with
torch.load(weights_only=True), so the state may contain only tensors and primitive containers
(dicts, lists, tuples, str, int, float, bool, None). Writes are atomic: a crash mid-write
leaves the previous checkpoint intact. `upstream_checkpoint` resolves the folder a later
run's `task.init_from` names (a checkpoint, or a trial folder meaning its final one).

    ckpts = CheckpointManager("runs/t0/checkpoints", keep=True)
    folder = ckpts.save_latest(state, eval_loss=2.31)
    state = load_state(folder)
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from contract.results import trial_checkpoints

STATE_FILE = "state.pt"
LATEST, BEST, FINAL = "latest", "best", "final"


def save_state(folder: str | Path, state: dict[str, Any]) -> str:
    """Write `state` to folder/state.pt atomically (temp file + rename); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, folder / STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(folder)


def load_state(folder: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint folder written by `save_state` (tensors land on `map_location`)."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint folder {folder} has no {STATE_FILE}")
    return torch.load(path, map_location=map_location, weights_only=True)


def upstream_checkpoint(path: str) -> Path:
    """The checkpoint folder a `task.init_from` path names: itself, or a trial folder's
    checkpoints/final. Raises FileNotFoundError naming task.init_from."""
    folder = Path(path)
    for candidate in (folder, trial_checkpoints(folder) / FINAL):
        if (candidate / STATE_FILE).is_file():
            return candidate
    raise FileNotFoundError(
        f"task.init_from: {path} holds neither {STATE_FILE} nor checkpoints/{FINAL}/{STATE_FILE}"
    )


def _copy_state(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    tmp = dst / f".{STATE_FILE}.tmp"
    shutil.copyfile(src / STATE_FILE, tmp)
    os.replace(tmp, dst / STATE_FILE)


class CheckpointManager:
    """Owns a run's checkpoints/ folder: always `latest`; `best` and `final` when `keep`."""

    def __init__(self, root: str | Path, keep: bool, best_eval_loss: float = math.inf) -> None:
        self.root = Path(root)
        """The checkpoints/ folder inside the trial folder."""
        self.keep = keep
        """Whether to keep best/ and final/ next to latest/ (latest is needed to resume)."""
        self.best_eval_loss = best_eval_loss
        """Lowest eval loss seen so far (carried over when a run resumes)."""

    @property
    def latest_dir(self) -> Path:
        return self.root / LATEST

    def save_latest(self, state: dict[str, Any], eval_loss: float) -> str:
        """Write `latest`, and copy it to `best` when `eval_loss` is the lowest so far."""
        folder = save_state(self.latest_dir, state)
        if eval_loss < self.best_eval_loss:
            self.best_eval_loss = eval_loss
            if self.keep:
                _copy_state(self.latest_dir, self.root / BEST)
        return folder

    def finalize(self) -> str | None:
        """Copy `latest` to `final` (when keeping checkpoints); returns the final folder."""
        if not self.keep or not (self.latest_dir / STATE_FILE).is_file():
            return None
        _copy_state(self.latest_dir, self.root / FINAL)
        return str(self.root / FINAL)
