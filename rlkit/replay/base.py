"""What both replay memories share: config, batch, the per-env streams, n-step targets, sizing.

`rlkit.replay.memory.ReplayMemory` stores vector observations as they come;
`rlkit.replay.frames.FrameReplayMemory` stores stacked pixel observations one frame at a time and
rebuilds the stacks when sampling; it expects the first observation of an episode to be its first
frame repeated `stack` times (what a frame stacker produces at reset). Both sample uniformly or
in proportion to priority (`rlkit.replay.sumtree`).

Capacity counts slots over all envs: env e owns the ring of slots [e * L, (e + 1) * L) with
L = capacity // num_envs, so an n-step window never mixes envs. A sampled transition's TD target
is `reward + discount * max_a Q(next_obs)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypedDict

import numpy as np
from numpy.typing import DTypeLike

from rlkit.agent import Transition
from rlkit.errors import CheckpointError, ConfigError
from rlkit.replay.sumtree import sum_tree_bytes
from rlkit.schedules import ScheduleConfig

ACTION_DTYPE = np.int64
COMPRESSED_FRAME_FRACTION = 0.25
"""Assumed compressed size of a frame, for the memory estimate (Atari frames do much better)."""
_BYTES_OBJECT_OVERHEAD = 33
# Per slot: action, reward (4), terminated, truncated and the sampler's valid flag (1 each).
_PER_SLOT_SCALARS = np.dtype(ACTION_DTYPE).itemsize + 4 + 1 + 1 + 1


class ReplayBatch(NamedTuple):
    """A sampled batch; the TD target is reward + discount * max_a Q(next_obs, a)."""

    obs: np.ndarray
    """Observations the actions were taken on, (B, *obs_shape)."""
    action: np.ndarray
    """Actions taken, (B,) int64."""
    reward: np.ndarray
    """n-step discounted reward sum within the episode, (B,) float32."""
    next_obs: np.ndarray
    """Observation after the window (the final one where the episode ended inside it)."""
    discount: np.ndarray
    """gamma ** steps summed; 0 where the episode terminated inside the window, (B,) float32."""
    weight: np.ndarray
    """Importance-sampling weights, (B,) float32 (ones when sampling uniformly)."""
    index: np.ndarray  # type: ignore[assignment]  # shadows tuple.index, as dqn_zoo's batches do
    """Slot handles for update_priorities, (B,) int64; stale once later adds reuse the slots."""


class ReplayBuffer(Protocol):
    """What an agent uses of a replay memory."""

    @property
    def capacity(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    def __len__(self) -> int: ...
    def add(self, transition: Transition) -> None: ...
    def sample(
        self, batch_size: int, rng: np.random.Generator, beta: float = 1.0
    ) -> ReplayBatch: ...
    def update_priorities(self, index: np.ndarray, td_abs: np.ndarray) -> None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class ReplayConfig:
    """Replay memory settings (a table inside an agent's config)."""

    capacity: int = 1_000_000
    """Transitions kept, over all envs (frame-aware: stored frames, one extra per episode end)."""
    n_step: int = 1
    """Rewards summed per target: r_t + gamma r_{t+1} + ... + gamma^(n-1) r_{t+n-1}."""
    prioritized: bool = False
    """Proportional prioritised replay (Schaul et al. 2016) instead of uniform sampling."""
    alpha: float = 0.6
    """Priority exponent: P(i) ~ p_i ** alpha (0 is uniform)."""
    beta: ScheduleConfig = field(
        default_factory=lambda: ScheduleConfig(kind="linear", start=0.4, end=1.0, steps=1_000_000)
    )
    """Importance-weight exponent as a schedule of the agent's step (annealed towards 1)."""
    priority_eps: float = 1e-6
    """Added to |TD error| so that no transition gets priority 0."""
    compress: bool = False
    """zlib-compress stored frames (frame-stacked pixel observations only)."""

    def __post_init__(self) -> None:
        _check_range("capacity", self.capacity, 1, None)
        _check_range("n_step", self.n_step, 1, None)
        _check_range("alpha", self.alpha, 0.0, 1.0)
        _check_range("beta.start", self.beta.start, 0.0, 1.0)
        _check_range("beta.end", self.beta.end, 0.0, 1.0)
        if not self.priority_eps > 0:
            raise ValueError(f"priority_eps must be > 0, got {self.priority_eps}")


def _check_range(name: str, value: float, low: float, high: float | None) -> None:
    if value < low or (high is not None and value > high):
        valid = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {valid}, got {value}")


class MemoryOptions(TypedDict):
    """Settings both memories take."""

    n_step: int
    prioritized: bool
    alpha: float
    priority_eps: float


def replay_bytes(
    capacity: int,
    obs_shape: tuple[int, ...],
    obs_dtype: DTypeLike,
    *,
    num_envs: int = 1,
    frame_stack: int | None = None,
    prioritized: bool = False,
    compress: bool = False,
) -> int:
    """Bytes a replay memory with these settings allocates (compressed frames: an estimate)."""
    slots = (capacity // num_envs) * num_envs
    obs_bytes = int(np.prod(obs_shape, dtype=np.int64)) * np.dtype(obs_dtype).itemsize
    tree = sum_tree_bytes(slots) if prioritized else 0
    if frame_stack is None:
        return slots * (2 * obs_bytes + _PER_SLOT_SCALARS) + tree
    frame = obs_bytes // frame_stack
    if compress:
        frame = 8 + _BYTES_OBJECT_OVERHEAD + int(frame * COMPRESSED_FRAME_FRACTION)
    return slots * (frame + 1 + _PER_SLOT_SCALARS) + tree  # + 1: the episode-start flag


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(
    capacity: int,
    obs_shape: tuple[int, ...],
    obs_dtype: DTypeLike,
    *,
    num_envs: int = 1,
    frame_stack: int | None = None,
    prioritized: bool = False,
    compress: bool = False,
) -> None:
    """Raise ConfigError, naming a capacity that fits, if replay_bytes(...) exceeds MemAvailable."""

    def bytes_for(c: int) -> int:
        return replay_bytes(
            c,
            obs_shape,
            obs_dtype,
            num_envs=num_envs,
            frame_stack=frame_stack,
            prioritized=prioritized,
            compress=compress,
        )

    needed, available = bytes_for(capacity), available_memory()
    if available is None or needed <= available:
        return
    fit = capacity * available // needed
    while fit > 0 and bytes_for(fit) > available:
        fit = fit * 9 // 10
    raise ConfigError(
        f"replay.capacity={capacity:,} needs {needed / 1e9:,.2f} GB but only "
        f"{available / 1e9:,.2f} GB of memory is available; "
        f"a capacity of {_round_down(fit):,} would fit"
    )


def _round_down(value: int) -> int:
    """Round down to two significant digits: 1,234,567 -> 1,200,000."""
    scale = int(10 ** max(len(str(value)) - 2, 0))
    return value // scale * scale


def n_step_targets(
    r_t: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reward sum, discount and length k of (B, n) windows cut at the first episode end."""
    n = r_t.shape[1]
    done = terminated | truncated
    inside = (np.cumsum(done, axis=1) - done) == 0  # no episode end strictly before step j
    k = inside.sum(axis=1)
    reward = np.where(inside, r_t * gamma ** np.arange(n), 0.0).sum(axis=1)
    last_terminated = terminated[np.arange(len(k)), k - 1]
    discount = np.where(last_terminated, 0.0, float(gamma) ** k)
    return reward.astype(np.float32), discount.astype(np.float32), k


class Streams:
    """Per-env rings: env e owns slots [e * length, (e + 1) * length) and its own cursor."""

    def __init__(self, num_envs: int, length: int, n_step: int) -> None:
        self.num_envs, self.length, self.n_step = num_envs, length, n_step
        self.cursor = np.zeros(num_envs, dtype=np.int64)
        self.size = np.zeros(num_envs, dtype=np.int64)
        self.episode_steps = np.zeros(num_envs, dtype=np.int64)

    def take(self, env: np.ndarray) -> np.ndarray:
        """Claim the next slot of each (distinct) env in `env`; return their global indices."""
        index: np.ndarray = env * self.length + self.cursor[env]
        self.cursor[env] = (self.cursor[env] + 1) % self.length
        self.size[env] = np.minimum(self.size[env] + 1, self.length)
        return index

    def newest(self) -> np.ndarray:
        """Global index of each env's most recently written slot."""
        return np.arange(self.num_envs) * self.length + (self.cursor - 1) % self.length

    def shift(self, index: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
        """The slot `offset` places after `index` in the same env's ring."""
        env, slot = np.divmod(index, self.length)
        shifted: np.ndarray = env * self.length + (slot + offset) % self.length
        return shifted

    def window(self, index: np.ndarray) -> np.ndarray:
        """(B, n_step) slots of the steps starting at `index`."""
        return self.shift(index[:, None], np.arange(self.n_step))

    def completed(self, step: np.ndarray, done: np.ndarray) -> np.ndarray:
        """Record one step per env (at slots `step`); return steps whose windows it completes."""
        self.episode_steps += 1
        if self.n_step == 1:
            ready_step = step
        else:
            back = np.arange(self.n_step)
            steps = self.episode_steps[:, None]
            ready = np.where(
                done[:, None], back < np.minimum(steps, self.n_step), (back == self.n_step - 1)
            )
            ready &= back < steps
            env, offset = np.nonzero(ready)
            ready_step = self.shift(step[env], -offset)
        self.episode_steps[done] = 0
        return ready_step

    def state_dict(self) -> dict[str, Any]:
        """Cursors, sizes and the current episodes' lengths."""
        return {"cursor": self.cursor, "size": self.size, "episode_steps": self.episode_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        for key, array in self.state_dict().items():
            np.copyto(array, state[key])


def check_layout(expected: dict[str, Any], state: dict[str, Any]) -> None:
    """Raise CheckpointError unless a saved replay had the same layout as this one."""
    saved = state.get("layout")
    if saved != expected:
        raise CheckpointError(f"saved replay memory has layout {saved}; this run needs {expected}")


def check_transition(t: Transition, num_envs: int, obs_shape: tuple[int, ...]) -> None:
    """Raise ValueError unless `t` holds one step of `num_envs` envs with `obs_shape` obs."""
    want = (num_envs, *obs_shape)
    if t.obs.shape != want or t.next_obs.shape != want:
        raise ValueError(f"replay expects observations of shape {want}, got {t.obs.shape}")
    if np.asarray(t.action).shape != (num_envs,):
        raise ValueError(f"replay expects actions of shape ({num_envs},), got {t.action.shape}")
    if not np.issubdtype(np.asarray(t.action).dtype, np.integer):
        raise ValueError(f"replay stores integer actions, got {np.asarray(t.action).dtype}")


def stream_length(capacity: int, num_envs: int, minimum: int) -> int:
    """Slots per env; ConfigError when each env would get fewer than `minimum`."""
    length = capacity // num_envs
    if length < minimum:
        raise ConfigError(
            f"replay.capacity={capacity:,} is too small for {num_envs} envs: each env needs "
            f">= {minimum} slots, so use a capacity of at least {minimum * num_envs:,}"
        )
    return length
