"""Replay memory, shared by the value-based agents (see base.py for the layout and the maths).

`ReplayMemory` stores vector observations as they come; `FrameReplayMemory` stores stacked pixel
observations one frame at a time and rebuilds the stacks when sampling. `build_replay` picks one
from a `ReplayConfig`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlkit.errors import ConfigError
from rlkit.replay.base import (
    ACTION_DTYPE,
    MemoryOptions,
    ReplayBatch,
    ReplayBuffer,
    ReplayConfig,
    available_memory,
    check_memory,
    n_step_targets,
    replay_bytes,
)
from rlkit.replay.frames import FrameReplayMemory
from rlkit.replay.memory import ReplayMemory


def build_replay(
    config: ReplayConfig,
    obs_space: gym.Space[Any],
    num_envs: int,
    gamma: float,
    frame_stack: int | None,
) -> ReplayBuffer:
    """The frame-aware memory when `frame_stack` is given (uint8 stacks), else the plain one."""
    shape, dtype = tuple(obs_space.shape or ()), np.dtype(obs_space.dtype)
    options = MemoryOptions(
        n_step=config.n_step,
        prioritized=config.prioritized,
        alpha=config.alpha,
        priority_eps=config.priority_eps,
    )
    if frame_stack is None:
        if config.compress:
            raise ConfigError("replay.compress=true needs frame-stacked uint8 pixel observations")
        return ReplayMemory(config.capacity, shape, dtype, num_envs, gamma, **options)
    if len(shape) != 3 or shape[0] != frame_stack or dtype != np.uint8:
        raise ConfigError(
            f"frame-aware replay needs uint8 observations of shape ({frame_stack}, H, W); "
            f"got {dtype} {shape}"
        )
    return FrameReplayMemory(
        config.capacity, shape, num_envs, gamma, compress=config.compress, **options
    )


__all__ = [
    "ACTION_DTYPE",
    "FrameReplayMemory",
    "ReplayBatch",
    "ReplayBuffer",
    "ReplayConfig",
    "ReplayMemory",
    "available_memory",
    "build_replay",
    "check_memory",
    "n_step_targets",
    "replay_bytes",
]
