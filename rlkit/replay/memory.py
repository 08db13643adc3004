"""The plain replay memory: vector observations stored as they come (see rlkit.replay.base)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from rlkit.agent import Transition
from rlkit.replay.base import (
    ACTION_DTYPE,
    ReplayBatch,
    Streams,
    check_layout,
    check_memory,
    check_transition,
    n_step_targets,
    stream_length,
)
from rlkit.replay.sumtree import SlotSampler


class ReplayMemory:
    """Ring buffers of vector-observation transitions, one per env, with n-step returns."""

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: DTypeLike,
        num_envs: int,
        gamma: float,
        *,
        n_step: int = 1,
        prioritized: bool = False,
        alpha: float = 0.6,
        priority_eps: float = 1e-6,
    ) -> None:
        length = stream_length(capacity, num_envs, n_step + 1)
        slots = length * num_envs
        check_memory(capacity, obs_shape, obs_dtype, num_envs=num_envs, prioritized=prioritized)
        self.obs_shape, self.gamma, self.n_step = tuple(obs_shape), gamma, n_step
        self.streams = Streams(num_envs, length, n_step)
        self.sampler = SlotSampler(slots, prioritized, alpha, priority_eps)
        self.obs = np.zeros((slots, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((slots, *obs_shape), dtype=obs_dtype)
        self.action = np.zeros(slots, dtype=ACTION_DTYPE)
        self.reward = np.zeros(slots, dtype=np.float32)
        self.terminated = np.zeros(slots, dtype=bool)
        self.truncated = np.zeros(slots, dtype=bool)
        self._all_envs = np.arange(num_envs)

    @property
    def capacity(self) -> int:
        """Slots over all envs (capacity rounded down to a multiple of num_envs)."""
        return len(self.action)

    @property
    def nbytes(self) -> int:
        """Bytes of every array this memory holds."""
        arrays = (self.obs, self.next_obs, self.action, self.reward)
        flags = self.terminated.nbytes + self.truncated.nbytes
        return sum(a.nbytes for a in arrays) + flags + self.sampler.nbytes

    def __len__(self) -> int:
        """Transitions that can be sampled now."""
        return self.sampler.num_valid

    def add(self, transition: Transition) -> None:
        """Store one vector step: slot per env, overwriting that env's oldest."""
        t = transition
        check_transition(t, self.streams.num_envs, self.obs_shape)
        index = self.streams.take(self._all_envs)
        self.sampler.invalidate(index)
        self.obs[index], self.next_obs[index] = t.obs, t.next_obs
        self.action[index], self.reward[index] = t.action, t.reward
        self.terminated[index], self.truncated[index] = t.terminated, t.truncated
        done = np.logical_or(t.terminated, t.truncated)
        self.sampler.validate(self.streams.completed(index, done))

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 1.0) -> ReplayBatch:
        """Draw a batch uniformly or by priority (`beta`: importance-weight exponent)."""
        s = self.streams
        index, weight = self.sampler.sample(batch_size, rng, beta, s.size, s.length)
        if self.n_step == 1:
            reward = self.reward[index]
            discount = np.where(self.terminated[index], 0.0, self.gamma).astype(np.float32)
            last = index
        else:
            window = s.window(index)
            reward, discount, k = n_step_targets(
                self.reward[window], self.terminated[window], self.truncated[window], self.gamma
            )
            last = window[np.arange(batch_size), k - 1]
        obs, next_obs = self.obs[index], self.next_obs[last]
        return ReplayBatch(obs, self.action[index], reward, next_obs, discount, weight, index)

    def update_priorities(self, index: np.ndarray, td_abs: np.ndarray) -> None:
        """Prioritised: priorities (|td| + eps) ** alpha for `index` from the latest sample()."""
        self.sampler.update(index, td_abs)

    def _layout(self) -> dict[str, Any]:
        return {"kind": "plain", "slots": self.capacity, "obs_shape": list(self.obs_shape)}

    def state_dict(self) -> dict[str, Any]:
        """Arrays, cursors and sampler state, for an exact resume."""
        arrays = {k: getattr(self, k) for k in _PLAIN_ARRAYS}
        return {
            "layout": self._layout(),
            **arrays,
            "streams": self.streams.state_dict(),
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned (into the arrays already allocated)."""
        check_layout(self._layout(), state)
        for key in _PLAIN_ARRAYS:
            np.copyto(getattr(self, key), state[key])
        self.streams.load_state_dict(state["streams"])
        self.sampler.load_state_dict(state["sampler"])


_PLAIN_ARRAYS = ("obs", "next_obs", "action", "reward", "terminated", "truncated")
