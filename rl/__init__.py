"""Reinforcement-learning trials on RLlib: typed config -> AlgorithmConfig -> one Tune trial.

`RLTask` / `RLTrialConfig` are cheap to import (pydantic and Gymnasium only), so loading a
sweep spec never pulls in RLlib; `ALGOS`, `resources` and `train` import it on first use.

    from rl import RLTrialConfig, resources, train
    bundles = resources(cfg, num_cpus=2)                  # for tune.PlacementGroupFactory
    final = train(cfg, reporter, num_cpus=2, trial_dir="runs/t0")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rl.config import RLTask, RLTrialConfig

if TYPE_CHECKING:
    from rl.algos import ALGOS
    from rl.trial import resources, train

__all__ = ["ALGOS", "RLTask", "RLTrialConfig", "resources", "train"]

_LAZY = {"ALGOS": "rl.algos", "resources": "rl.trial", "train": "rl.trial"}


def __getattr__(name: str) -> Any:
    # Importing RLlib takes seconds; only code that runs or sizes a trial pays for it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rl' has no attribute {name!r}")
