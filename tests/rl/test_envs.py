"""Environment ids and spaces: registry check, sizes, and one-line errors naming the field."""

from __future__ import annotations

import gymnasium as gym
import pytest

from rl.envs import EnvShapes, check_env_id, env_shapes, make_env


def test_known_ids_pass_through():
    assert check_env_id("CartPole-v1") == "CartPole-v1"
    assert check_env_id("LunarLander-v3") == "LunarLander-v3"  # registered even without Box2D


def test_unknown_id_names_the_field_and_suggests():
    with pytest.raises(ValueError, match=r"task.env: unknown Gymnasium environment 'Foo-v0'"):
        check_env_id("Foo-v0")
    with pytest.raises(ValueError, match="did you mean Pendulum-v1"):
        check_env_id("Pendulum-v2")


def test_shapes_of_discrete_and_continuous_envs():
    assert env_shapes("CartPole-v1", {}) == EnvShapes(obs_dim=4, num_actions=2, discrete=True)
    assert env_shapes("Pendulum-v1", {"g": 9.81}) == EnvShapes(3, 1, False)
    assert env_shapes("Acrobot-v1", {}) == EnvShapes(6, 3, True)


def test_env_config_reaches_gymnasium_make():
    env = make_env("CartPole-v1", {"max_episode_steps": 50})
    try:
        assert env.spec is not None and env.spec.max_episode_steps == 50
    finally:
        env.close()


def test_bad_env_config_names_the_field():
    with pytest.raises(ValueError, match=r"task.env_config: 'CartPole-v1' rejected \{'foo': 1\}"):
        env_shapes("CartPole-v1", {"foo": 1})


def test_missing_optional_dependency_is_one_line():
    try:
        import Box2D  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match=r"task.env: 'LunarLander-v3' needs an extra package"):
            env_shapes("LunarLander-v3", {})
    else:
        assert env_shapes("LunarLander-v3", {}) == EnvShapes(8, 4, True)


def test_image_observations_are_rejected():
    gym.register("ScalesweepImageEnv-v0", entry_point=_ImageEnv)
    try:
        with pytest.raises(ValueError, match="only flat Box observations"):
            env_shapes("ScalesweepImageEnv-v0", {})
    finally:
        del gym.envs.registry["ScalesweepImageEnv-v0"]


class _ImageEnv(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (8, 8, 3))
    action_space = gym.spaces.Discrete(2)
