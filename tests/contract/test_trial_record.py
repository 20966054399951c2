"""A trial's record (config.json) is written and read in one place, and a damaged one is a
one-line error naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.results import CONFIG_FILE, TrialRecord, read_trial_record, write_trial_record


def test_a_written_record_reads_back(tmp_path: Path) -> None:
    record = TrialRecord(
        trial_id="3f9a0c21d4",
        assignment={"model.size": "gpt-20k"},
        config={"model": {"d_model": 32}, "trainer": {"epochs": 2}},
        resources={"num_workers": 1},
    )
    write_trial_record(tmp_path, record)
    assert read_trial_record(tmp_path) == record
    assert (tmp_path / CONFIG_FILE).read_text(encoding="utf-8").startswith('{\n  "trial_id"')


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"trial_id": "x", ', "line 1"),
        ('["config"]', "no 'config' object"),
        ('{"trial_id": "x", "config": 3}', "no 'config' object"),
    ],
)
def test_a_damaged_record_names_its_file(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=reason) as info:
        read_trial_record(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / CONFIG_FILE}: not a trial record")


def test_a_missing_record_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_trial_record(tmp_path)
