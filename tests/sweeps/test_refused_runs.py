"""A run refused before it starts leaves nothing behind: no empty results folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeps.cli import main

TINY = """\
name: refused
model: {size: gpt-10k, seq_len: 32}
data: {dataset: {type: synthetic, vocab_size: 16, num_tokens: 60000}}
trainer: {batch_size: 8, max_tokens: 8192, eval_tokens: 1024}
"""


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--address", "127.0.0.1:1"], "--address 127.0.0.1:1: nothing answers there"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_a_refused_run_leaves_no_storage_folder(tmp_path: Path, capsys, flags, expected):
    spec = tmp_path / "s.yaml"
    spec.write_text(TINY)
    storage = tmp_path / "new" / "results"
    assert main([str(spec), "--storage", str(storage), *flags]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()
