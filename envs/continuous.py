"""TargetReach: a small continuous-action env with a known optimum, for policy-gradient tests.

Every step shows a target drawn uniformly from [-1, 1]^dim; the action (a Box in [-1, 1]^dim)
is scored by reward = -sum((action - target)^2), after which a new target is drawn. The optimal
policy outputs the target (return 0); a uniformly random policy scores -2/3 * dim per step.
Registered as rlkit/TargetReach-v0 with 10-step episodes (truncated by the time limit).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class TargetReachEnv(gym.Env[np.ndarray, np.ndarray]):
    """Output the observed target: reward -(action - target)^2 summed over dimensions."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 - Gymnasium's API

    def __init__(self, dim: int = 1, render_mode: str | None = None) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: {render_mode!r} is not supported; use 'ansi' or None")
        self.render_mode = render_mode
        self.dim = dim
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (dim,), np.float32)
        self.target = np.zeros(dim, dtype=np.float32)
        self.last_reward: float | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw the first target."""
        super().reset(seed=seed)
        self.last_reward = None
        return self._draw_target(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Score the action against the current target, then draw the next target."""
        clipped = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        self.last_reward = -float(np.sum((clipped - self.target) ** 2))
        return self._draw_target(), self.last_reward, False, False, {}

    def _draw_target(self) -> np.ndarray:
        self.target = self.np_random.uniform(-1.0, 1.0, self.dim).astype(np.float32)
        return self.target.copy()

    def render(self) -> str | None:
        """ansi: the current target and the last reward."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; use render_mode='ansi'")
            return None
        return f"target {np.round(self.target, 3).tolist()}, last reward {self.last_reward}\n"


if "rlkit/TargetReach-v0" not in gym.registry:
    gym.register(
        id="rlkit/TargetReach-v0",
        entry_point="rlkit.envs.continuous:TargetReachEnv",
        max_episode_steps=10,
    )
