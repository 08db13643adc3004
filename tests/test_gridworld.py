"""The 4x4 gridworld of Sutton & Barto example 4.1."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rlkit.envs.gridworld import TERMINALS, GridWorldEnv
from rlkit.tabular_model import TabularModel

UP, RIGHT, DOWN, LEFT = range(4)
# check_env's advice about wrapped envs and envs without a spec, not problems of the env
BENIGN = ("different from the unwrapped version", "not having a spec")


def checked_without_warnings(env: gym.Env[int, int]) -> None:
    """Run check_env and fail on any warning other than the benign ones."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    problems = [str(w.message) for w in caught if not any(b in str(w.message) for b in BENIGN)]
    assert problems == []


@pytest.mark.parametrize("render_mode", [None, "ansi"])
def test_check_env_passes(render_mode: str | None) -> None:
    checked_without_warnings(GridWorldEnv(render_mode=render_mode))
    checked_without_warnings(gym.make("rlkit/GridWorld-v0", render_mode=render_mode).unwrapped)
    checked_without_warnings(gym.make("rlkit/GridWorld-v0", render_mode=render_mode))


def test_spaces_and_registration() -> None:
    env = gym.make("rlkit/GridWorld-v0")
    assert env.observation_space == gym.spaces.Discrete(16)
    assert env.action_space == gym.spaces.Discrete(4)
    assert env.spec is not None
    assert env.spec.max_episode_steps == 100
    assert env.spec.entry_point == "rlkit.envs.gridworld:GridWorldEnv"


def test_seeded_resets_are_reproducible_and_never_terminal() -> None:
    env = GridWorldEnv()
    first = [env.reset(seed=3)[0]] + [env.reset()[0] for _ in range(200)]
    second = [env.reset(seed=3)[0]] + [env.reset()[0] for _ in range(200)]
    assert first == second
    assert set(first) == set(range(1, 15))  # uniform over the 14 non-terminal states
    np.testing.assert_allclose(env.initial_state_distrib[1:15], 1 / 14)
    assert env.initial_state_distrib[0] == env.initial_state_distrib[15] == 0.0


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (1, LEFT, (0, -1.0, True)),  # into the top-left corner: episode ends
        (4, LEFT, (4, -1.0, False)),  # off the grid: stays put, still pays -1
        (5, UP, (1, -1.0, False)),
        (3, UP, (3, -1.0, False)),
        (14, RIGHT, (15, -1.0, True)),
        (11, DOWN, (15, -1.0, True)),
        (6, DOWN, (10, -1.0, False)),
    ],
)
def test_hand_checked_moves(state: int, action: int, expected: tuple[int, float, bool]) -> None:
    env = GridWorldEnv()
    env.reset(seed=0)
    env.s = state
    next_obs, reward, terminated, truncated, info = env.step(action)
    assert (next_obs, reward, terminated) == expected
    assert truncated is False
    assert info == {"prob": 1.0}


def test_table_agrees_with_step() -> None:
    env = GridWorldEnv()
    env.reset(seed=0)
    for s in range(16):
        for a in range(4):
            [(prob, s2, reward, terminated)] = env.P[s][a]
            assert prob == 1.0
            if s in TERMINALS:  # documented self-loop, never reached by step()
                assert (s2, reward, terminated) == (s, 0.0, True)
                continue
            env.s = s
            assert env.step(a)[:3] == (s2, reward, terminated)


def test_model_from_the_table() -> None:
    model = TabularModel.from_env(gym.make("rlkit/GridWorld-v0"))
    assert model is not None
    assert model.transitions.shape == (16, 4, 16)
    assert model.transitions[1, LEFT].sum() == 0.0  # terminating move: no mass
    assert model.transitions[5, UP, 1] == 1.0
    assert model.rewards[0].tolist() == [0.0] * 4
    assert model.rewards[1].tolist() == [-1.0] * 4
    assert model.initial.sum() == pytest.approx(1.0)


def test_time_limit_truncates_after_100_steps() -> None:
    env = gym.make("rlkit/GridWorld-v0")
    env.reset(seed=0)
    env.unwrapped.s = 3  # type: ignore[attr-defined]
    for step in range(1, 101):
        obs, _, terminated, truncated, _ = env.step(UP)  # bumps into the top wall
        assert obs == 3
        assert not terminated
        assert truncated == (step == 100)


def test_ansi_render_shows_the_grid() -> None:
    env = GridWorldEnv(render_mode="ansi")
    env.reset(seed=0)
    env.s = 6
    env.step(LEFT)
    text = env.render()
    assert text == "  (left)\nT . . .\n. x . .\n. . . .\n. . . T\n"


def test_render_without_mode_warns() -> None:
    env = GridWorldEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


def test_unknown_render_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="render_mode"):
        GridWorldEnv(render_mode="human")
