"""Tiny test environments whose optimal policy and values are known by hand.

Importing this module registers them with Gymnasium (test-only ids, under "rlkit-test/"), so an
experiment's `[env] id` can name them and the runner builds them like any other env:

- rlkit-test/Bandit-v0: one-step episodes. Each episode shows a one-hot context c (uniform
  over the rows of `rewards`); action a earns rewards[c][a] and the episode terminates, so
  Q(c, a) = rewards[c][a] whatever gamma is. One row is a plain multi-armed bandit.
- rlkit-test/ConstantReward-v0: never terminates; observation [1.0] and `reward` for any action
  at every step. Its time limit (10 steps unless overridden) truncates, so a value learner that
  bootstraps through truncation has Q(s, a) = reward / (1 - gamma) for every action.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np


class Bandit(gym.Env[np.ndarray, np.int64]):
    """One step per episode: context c shown one-hot, action a scored rewards[c][a]."""

    def __init__(self, rewards: Sequence[Sequence[float]] = ((0.0, 1.0),)) -> None:
        self.rewards = np.array(rewards, dtype=np.float64)
        contexts, arms = self.rewards.shape
        self.observation_space = gym.spaces.Box(0.0, 1.0, (contexts,), np.float32)
        self.action_space = gym.spaces.Discrete(arms)
        self.context = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw the episode's context."""
        super().reset(seed=seed)
        self.context = int(self.np_random.integers(len(self.rewards)))
        return self.observation(self.context), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Score the action in the current context; the episode ends."""
        reward = float(self.rewards[self.context, int(action)])
        return self.observation(self.context), reward, True, False, {}

    def observation(self, context: int) -> np.ndarray:
        """The one-hot observation of `context`."""
        return np.eye(len(self.rewards), dtype=np.float32)[context]


class ConstantReward(gym.Env[np.ndarray, np.int64]):
    """Never terminates: observation [1.0] and `reward` for any of `actions` actions."""

    def __init__(self, reward: float = 1.0, actions: int = 2) -> None:
        self.reward = reward
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(actions)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The one observation."""
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """The same reward and observation; never terminated (the time limit truncates)."""
        return np.ones(1, np.float32), self.reward, False, False, {}


BANDIT = "rlkit-test/Bandit-v0"
CONSTANT_REWARD = "rlkit-test/ConstantReward-v0"

for _id, _entry, _limit in ((BANDIT, Bandit, None), (CONSTANT_REWARD, ConstantReward, 10)):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_entry, max_episode_steps=_limit)
