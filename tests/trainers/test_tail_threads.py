"""A trial's threads follow its sweep's grant, and keep a larger grant only while it pays.

Step times are given, not measured, so every verdict here is decided by the numbers passed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from contract.metrics import THREADS
from trainers import threads as th
from trainers.config import TrialConfig
from trainers.lm import train
from trainers.reporter import Context, ListReporter
from trainers.threads import THREADS_FILE, THREADS_LOG, TrialThreads, read_grant, write_grant


@pytest.fixture(autouse=True)
def four_cores(monkeypatch):
    """Four usable cores whatever the machine has; torch's threads restored afterwards."""
    monkeypatch.setattr(th, "usable_cores", lambda: 4)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def steps(threads: TrialThreads, seconds: float, count: int, now: float) -> float:
    """Feed `count` steps of `seconds` each from time `now`; returns the time after them."""
    for _ in range(count):
        now += seconds
        threads.after_step(seconds, now=now)
    return now


def until_trying(threads: TrialThreads, seconds: float, now: float) -> float:
    """Feed steps until the trial takes up its grant: it times its own threads for a second
    after it sees the grant, then tries it. Returns the time."""
    for _ in range(2 * int(th.POLL_S / seconds) + 3):
        if threads.trying is not None:
            return now
        now = steps(threads, seconds, 1, now)
    raise AssertionError("the grant was never tried")


def trying(folder: Path, grant: int) -> tuple[TrialThreads, float]:
    """A trial that ran 12 steps of 0.1 s on its one thread, then was granted ``grant`` threads
    and has taken the grant up; returns it and the time."""
    threads = TrialThreads.start(1, folder / THREADS_FILE)
    now = steps(threads, 0.1, 12, now=0.0)
    write_grant(folder / THREADS_FILE, grant)
    return threads, until_trying(threads, 0.1, now)


def log(folder: Path) -> str:
    path = folder / THREADS_LOG
    return path.read_text() if path.exists() else ""


def test_without_a_grant_the_trial_keeps_its_own_threads(tmp_path: Path) -> None:
    threads = TrialThreads.start(1, tmp_path / THREADS_FILE)
    steps(threads, 0.1, 30, now=0.0)
    assert threads.current == 1 == torch.get_num_threads()
    assert log(tmp_path) == ""


def test_a_grant_that_makes_steps_faster_is_kept(tmp_path: Path) -> None:
    threads, now = trying(tmp_path, 2)
    assert threads.trying is not None and torch.get_num_threads() == 2
    assert threads.current == 1  # not kept yet
    steps(threads, 0.06, th.TRY_STEPS + 2, now)
    assert threads.current == 2 == torch.get_num_threads()
    assert "granted 2" in log(tmp_path) and "kept 2" in log(tmp_path)


def test_a_grant_that_does_not_pay_is_given_back_and_tried_later(tmp_path: Path) -> None:
    threads, now = trying(tmp_path, 2)
    now = steps(threads, 0.099, th.TRY_STEPS, now)  # 1 % faster: not worth a core
    assert threads.current == 1 == torch.get_num_threads()
    assert "gave back 2" in log(tmp_path)
    now = steps(threads, 0.1, 100, now)  # 10 s: before the back-off ends, no new try
    assert threads.trying is None and log(tmp_path).count("granted 2") == 1
    steps(threads, 0.1, 250, now)  # past it: tried again, given back again, waits longer
    assert log(tmp_path).count("granted 2") == 2
    assert "next try in 30 s" in log(tmp_path) and "next try in 60 s" in log(tmp_path)


def test_a_crawling_grant_is_given_back_without_finishing_its_try(tmp_path: Path) -> None:
    """Threads fighting over busy cores can run many times slower: two such steps suffice."""
    threads, now = trying(tmp_path, 2)
    now = steps(threads, 1.0, 2, now)
    assert threads.trying is None and threads.current == 1 == torch.get_num_threads()
    assert "gave back 2: 2 steps" in log(tmp_path)


def test_a_withdrawn_grant_gives_the_cores_back_at_the_next_look(tmp_path: Path) -> None:
    threads, now = trying(tmp_path, 3)
    now = steps(threads, 0.05, 12, now)  # half a second of faster steps
    assert threads.current == 3
    (tmp_path / THREADS_FILE).unlink()  # a trial waits again
    steps(threads, 0.05, 21, now)
    assert threads.current == 1 == torch.get_num_threads()
    assert "grant withdrawn: back from 3 to 1" in log(tmp_path)


def test_a_grant_never_goes_past_the_cores_the_process_may_use(tmp_path: Path) -> None:
    threads, _ = trying(tmp_path, 16)
    assert threads.trying is not None and threads.trying.threads == 4


def test_unreadable_grants_are_no_grants(tmp_path: Path) -> None:
    path = tmp_path / THREADS_FILE
    assert read_grant(path) is None
    for text in ("", "two", "0", "-1"):
        path.write_text(text)
        assert read_grant(path) is None
    write_grant(path, 3)
    assert read_grant(path) == 3


def tiny_lm() -> TrialConfig:
    return TrialConfig.model_validate(
        {
            "model": {"size": "gpt-10k", "seq_len": 16},
            "data": {"dataset": {"type": "synthetic", "vocab_size": 16, "num_tokens": 20000}},
            "trainer": {"batch_size": 4, "max_tokens": 640, "eval_tokens": 256},
        }
    )


def test_every_report_says_the_threads_it_trained_with(tmp_path: Path) -> None:
    reporter = ListReporter()
    ctx = Context(trial_dir=str(tmp_path), num_threads=1, threads_file=tmp_path / THREADS_FILE)
    train(tiny_lm(), reporter, ctx)
    assert reporter.reports and all(r[THREADS] == 1 for r in reporter.reports)
