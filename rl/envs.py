"""Gymnasium environments by id: validation and the observation/action sizes networks need.

The config checks an id against Gymnasium's registry without building anything; the algorithm
builders then build one copy (cheap for the classic-control and Box2D tasks) to read its spaces.

    check_env_id("CartPole-v1")                  # returns the id, or ValueError naming task.env
    shapes = env_shapes("CartPole-v1", {})
    shapes.obs_dim, shapes.num_actions, shapes.discrete   # 4, 2, True
"""

from __future__ import annotations

import difflib
import json
from functools import lru_cache
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np


class EnvShapes(NamedTuple):
    """What a policy network's input and output layers depend on."""

    obs_dim: int
    """Features of one (flat) observation."""
    num_actions: int
    """Discrete: number of actions; continuous (Box): number of action dimensions."""
    discrete: bool
    """True for a Discrete action space, False for a 1-D Box."""


def check_env_id(env_id: str) -> str:
    """`env_id` if Gymnasium has it registered; otherwise ValueError with close matches."""
    if env_id in gym.envs.registry:
        return env_id
    close = difflib.get_close_matches(env_id, list(gym.envs.registry), n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"task.env: unknown Gymnasium environment {env_id!r}{hint}")


def make_env(env_id: str, env_config: dict[str, Any]) -> gym.Env:
    """One environment copy, with construction problems turned into one-line ValueErrors."""
    check_env_id(env_id)
    try:
        return gym.make(env_id, **env_config)
    except gym.error.DependencyNotInstalled as err:
        raise ValueError(f"task.env: {env_id!r} needs an extra package: {err}") from None
    except TypeError as err:
        raise ValueError(f"task.env_config: {env_id!r} rejected {env_config}: {err}") from None


def env_shapes(env_id: str, env_config: dict[str, Any]) -> EnvShapes:
    """Observation and action sizes of `env_id` built with `env_config`.

    Only flat (1-D Box) observations are supported: RLlib's default MLP trunk is what the
    model-size axis maps to, and image or dict observations would need other encoders.
    """
    return _env_shapes(env_id, json.dumps(env_config, sort_keys=True, default=str))


@lru_cache(maxsize=64)
def _env_shapes(env_id: str, env_config_json: str) -> EnvShapes:
    env = make_env(env_id, json.loads(env_config_json))
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1):
        raise ValueError(
            f"task.env: {env_id!r} has observation space {obs_space}; only flat Box "
            "observations are supported"
        )
    if isinstance(act_space, gym.spaces.Discrete):
        return EnvShapes(int(obs_space.shape[0]), int(act_space.n), True)
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        return EnvShapes(int(obs_space.shape[0]), int(np.prod(act_space.shape)), False)
    raise ValueError(
        f"task.env: {env_id!r} has action space {act_space}; only Discrete or 1-D Box actions "
        "are supported"
    )
