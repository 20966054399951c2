"""Checkpoint folders on disk: `latest` for resuming, `best` by eval loss, `final` at the end.

A checkpoint is a folder holding one `state.pt` written with torch.save and read back with
torch.load(weights_only=True), so the state may contain only tensors and primitive containers
(dicts, lists, tuples, str, int, float, bool, None). Writes are atomic: a crash mid-write
leaves the previous checkpoint intact, and the manager keeps the one before `latest` as
`previous`, so a damaged `latest` (a bad disk, a copy cut short) falls back to it
(`resume_folder`). Every read or write error names the file. `upstream_checkpoint` resolves the folder a later
run's `task.init_from` names (a checkpoint, or a trial folder meaning its final one).

    ckpts = CheckpointManager("runs/t0/checkpoints", keep=True)
    folder = ckpts.save_latest(state, eval_loss=2.31)
    state = load_state(resume_folder(ckpts.root))
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from contract.results import trial_checkpoints

STATE_FILE = "state.pt"
LATEST, BEST, FINAL = "latest", "best", "final"
PREVIOUS = "previous"
"""The checkpoint `latest` replaced: what a resume falls back to when `latest` is damaged."""


class CheckpointError(OSError):
    """A checkpoint that cannot be written or read; the message names the file."""


def _reason(err: BaseException) -> str:
    # torch reports a full disk as "inline_container.cc ... unexpected pos": say what it is.
    text = " ".join(str(err).split())
    if getattr(err, "errno", None) == errno.ENOSPC or "unexpected pos" in text:
        return "no space left on device"
    return (text.splitlines() or [err.__class__.__name__])[0][:200] or err.__class__.__name__


def save_state(folder: str | Path, state: dict[str, Any]) -> str:
    """Write `state` to folder/state.pt atomically (temp file + rename); returns the folder.
    A failed write (a full disk) leaves no temporary file and raises CheckpointError."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".state-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / STATE_FILE)
    except (OSError, RuntimeError) as err:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(
            errno.ENOSPC if _reason(err) == "no space left on device" else errno.EIO,
            f"writing checkpoint {folder / STATE_FILE}: {_reason(err)}",
        ) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(folder)


def load_state(folder: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint folder written by `save_state` (tensors land on `map_location`).
    A damaged file raises CheckpointError naming it (torch's own message names none)."""
    path = Path(folder) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint folder {folder} has no {STATE_FILE}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise CheckpointError(
            errno.EIO, f"checkpoint {path} is unreadable ({_reason(err)})"
        ) from None


def check_readable(folder: str | Path) -> None:
    """Raise CheckpointError naming the file unless folder/state.pt is intact and loads.

    Both checks: torch.load does not verify the archive's CRCs, so a flipped byte in a
    tensor loads as a wrong weight; a CRC check alone misses nothing torch needs but a load
    also proves the state holds only what weights-only loading accepts."""
    path = Path(folder) / STATE_FILE
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(errno.EIO, f"checkpoint {path} is unreadable ({err})") from None
    if bad is not None:
        raise CheckpointError(errno.EIO, f"checkpoint {path} is unreadable (bad CRC in {bad})")
    load_state(folder)


def resume_choice(root: str | Path) -> tuple[Path | None, str | None]:
    """The checkpoint to resume from under `root` (a checkpoints/ folder) and, when `latest`
    was damaged and `previous` is used instead, the sentence that says so (for the worker's
    log, attempts.log and the driver's output alike); (None, None) when there is none.
    Raises CheckpointError naming the file when none is usable."""
    root = Path(root)
    candidates = [root / LATEST, root / PREVIOUS]
    present = [c for c in candidates if (c / STATE_FILE).is_file()]
    errors: list[CheckpointError] = []
    for folder in present:
        try:
            check_readable(folder)
        except CheckpointError as err:
            errors.append(err)
            continue
        return folder, f"{errors[0].strerror}; resuming from {folder}" if errors else None
    if errors:
        raise errors[0]
    return None, None


def resume_folder(root: str | Path) -> Path | None:
    """`resume_choice`'s folder, with its fallback sentence on stderr."""
    folder, note = resume_choice(root)
    if note:
        print(note, file=sys.stderr, flush=True)
    return folder


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
        """Write `latest` (the one it replaces becomes `previous`), and copy it to `best`
        when `eval_loss` is the lowest so far."""
        staging = self.root / f".{LATEST}-new"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            save_state(staging, state)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        previous = self.root / PREVIOUS
        if self.latest_dir.is_dir():
            # A crash between the two renames leaves `previous` only: resume_folder uses it.
            shutil.rmtree(previous, ignore_errors=True)
            self.latest_dir.rename(previous)
        staging.rename(self.latest_dir)
        folder = str(self.latest_dir)
        if eval_loss < self.best_eval_loss:
            self.best_eval_loss = eval_loss
            if self.keep:
                _copy_state(self.latest_dir, self.root / BEST)
        return folder

    def finalize(self) -> str | None:
        """Copy `latest` to `final` (when keeping checkpoints); returns the final folder.
        A finished run never resumes mid-way, so `previous` is dropped."""
        shutil.rmtree(self.root / PREVIOUS, ignore_errors=True)
        if not self.keep or not (self.latest_dir / STATE_FILE).is_file():
            return None
        _copy_state(self.latest_dir, self.root / FINAL)
        return str(self.root / FINAL)
