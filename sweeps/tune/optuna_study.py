"""The Optuna side of an `algorithm: optuna` sweep: the sampler and the study kept on disk.

The study lives in the sweep folder as an Optuna journal file (JournalStorage over
JournalFileBackend), so `optuna-dashboard <sweep>/optuna.journal` shows it while it runs and
after, and a resumed sweep finds its history there. Pure Optuna: Ray Tune's OptunaSearch is
built around these in sweeps.tune.runner.

    sampler = make_sampler("nsga2", seed=0)
    storage = journal_storage(Path("results/opt"))
    optuna.load_study(study_name=STUDY_NAME, storage=storage).trials
"""

from __future__ import annotations

import threading
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

JOURNAL_FILE = "optuna.journal"
"""The study's journal, in the sweep folder."""
STUDY_NAME = "sweep"
"""One study per sweep folder (its stages optimise one at a time, see study_name)."""


def study_name(stage: str) -> str:
    """The study of a stage: one study per stage, so a pipeline's stages keep apart."""
    return STUDY_NAME if stage == "main" else f"{STUDY_NAME}-{stage}"


class _PicklableNSGAII(optuna.samplers.NSGAIISampler):
    """NSGA-II that survives pickling: Ray Tune pickles its searcher with the tuner, and
    Optuna 5.1 gave the genetic samplers a thread lock, which cannot be pickled. The lock
    guards one process's threads only, so a fresh one on unpickling is the same sampler."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._thread_lock = threading.Lock()


def make_sampler(name: str | None, seed: int) -> optuna.samplers.BaseSampler:
    """Optuna's sampler by its short name (null = TPE), seeded so a sweep plans reproducibly."""
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
        "gp": lambda: optuna.samplers.GPSampler(seed=seed),
        "qmc": lambda: optuna.samplers.QMCSampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "nsga2": lambda: _PicklableNSGAII(seed=seed),
    }
    return samplers[name or "tpe"]()


def journal_path(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / JOURNAL_FILE


def journal_storage(sweep_dir: Path) -> JournalStorage:
    """The sweep's study storage; the file is created on first use."""
    return JournalStorage(JournalFileBackend(str(journal_path(sweep_dir))))


def has_history(sweep_dir: Path, stage: str) -> bool:
    """Whether the journal already holds this stage's study (then it, not the result tables,
    is the searcher's history: adding the table rows again would count them twice)."""
    if not journal_path(sweep_dir).exists():
        return False
    names = {s.study_name for s in optuna.get_all_study_summaries(journal_storage(sweep_dir))}
    return study_name(stage) in names


def requeue_abandoned(sweep_dir: Path, stage: str) -> int:
    """Trials a killed driver left RUNNING in the journal: each is marked failed and its
    parameters are queued, so the resumed sweep proposes them first (the same trial id,
    continuing from its checkpoint) instead of leaving them RUNNING forever. Only call it
    while holding the sweep's lock: then no other driver runs them. Returns how many."""
    if not has_history(sweep_dir, stage):
        return 0
    storage = journal_storage(sweep_dir)
    study = optuna.load_study(study_name=study_name(stage), storage=storage)
    stale = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in stale:
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})
    return len(stale)
