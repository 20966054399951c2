"""The RLlib algorithms a trial can run, by the name used in ``task.algo``.

Each entry carries the algorithm *class* (Tune and `default_resource_request` need it; naming
an algorithm by string makes RLlib import every algorithm it ships, and one of them fails
without optional dependencies) and the builder from the typed config.

    entry = get_algo("ppo")
    config = entry.build(cfg, num_cpus=2)   # an AlgorithmConfig
    bundles = entry.algorithm_class.default_resource_request(config).bundles
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.dqn import DQN
from ray.rllib.algorithms.ppo import PPO

from rl.algos import dqn, ppo
from rl.config import RLTrialConfig


class AlgoEntry(NamedTuple):
    """One algorithm: its RLlib class and its config builder."""

    algorithm_class: type[Algorithm]
    """The RLlib Algorithm subclass (PPO, DQN)."""
    build: Callable[[RLTrialConfig, float], AlgorithmConfig]
    """build(cfg, num_cpus) -> the AlgorithmConfig of one trial."""


ALGOS: dict[str, AlgoEntry] = {
    "ppo": AlgoEntry(PPO, ppo.build),
    "dqn": AlgoEntry(DQN, dqn.build),
}
"""Algorithms by ``task.algo`` name."""


def get_algo(name: str) -> AlgoEntry:
    """The entry for `name`; ValueError listing the valid names if there is none."""
    if name not in ALGOS:
        raise ValueError(f"task.algo: unknown algorithm {name!r}; valid: {', '.join(ALGOS)}")
    return ALGOS[name]
