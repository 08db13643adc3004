"""Greedy evaluation: a fixed quota of episodes per sub-env, whatever their lengths."""

import functools
from typing import Any

import bandits
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rlkit.agent import Agent
from rlkit.evaluation import evaluate


class FirstAction(Agent[None]):
    """Always takes action 0 (the constant-reward env ignores actions)."""

    config_class = dict

    def __init__(self) -> None:
        pass

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        return np.zeros(len(obs), np.int64)


def episodes_lasting(*lengths: int) -> SyncVectorEnv:
    """Sub-env i earns 1 per step for `lengths[i]` steps per episode (then truncates)."""
    make = functools.partial(gym.make, bandits.CONSTANT_REWARD, reward=1.0)
    fns: list[Any] = [functools.partial(make, max_episode_steps=n) for n in lengths]
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


@pytest.mark.parametrize(
    ("lengths", "episodes", "returns"),
    [
        ((1, 5), 4, [1, 1, 5, 5]),  # quotas 2 and 2
        ((1, 5), 5, [1, 1, 5, 5, 5]),  # quotas 5 // 2 = 2 and 6 // 2 = 3
        ((1, 2, 6), 3, [1, 2, 6]),  # one each
        ((6, 1, 2), 7, [6, 6, 1, 1, 2, 2, 2]),  # quotas 2, 2 and 3
    ],
)
def test_each_sub_env_plays_its_quota_whatever_its_episode_length(
    lengths: tuple[int, ...], episodes: int, returns: list[float]
) -> None:
    """Sub-env i contributes (episodes + i) // num_envs episodes, not the first to finish."""
    result = evaluate(FirstAction(), episodes_lasting(*lengths), episodes, seed=0)
    assert result.episodes == episodes
    assert result.mean_return == pytest.approx(np.mean(returns))
    assert result.std_return == pytest.approx(np.std(returns))
    assert result.mean_length == pytest.approx(np.mean(returns))  # 1 per step
