"""Small Gymnasium wrappers used by experiments."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym


class RewardNoise(gym.Wrapper[Any, Any, Any, Any]):
    """Add N(0, std) noise to every reward (the Double DQN post's max-bias experiment).

    On CartPole, whose reward is always 1, this is the post's N(1.0, sigma) reward. The noise is
    drawn from the env's own seeded generator, so runs stay reproducible.
    """

    def __init__(self, env: gym.Env[Any, Any], std: float) -> None:
        super().__init__(env)
        self.std = std

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        noisy = float(reward) + float(self.np_random.normal(0.0, self.std))
        return obs, noisy, terminated, truncated, info
