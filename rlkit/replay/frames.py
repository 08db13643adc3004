"""Frame-aware replay: each pixel frame stored once (optionally zlib-compressed), stacks rebuilt."""

from __future__ import annotations

import sys
import zlib
from typing import Any

import numpy as np

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

_FRAME_ARRAYS = ("start", "action", "reward", "terminated", "truncated")


class FrameReplayMemory:
    """Replay of (stack, H, W) uint8 observations that stores each frame once per env ring.

    An episode begins with its first frame, flagged as an episode start; each step then stores
    the newest frame of its next observation: the next step's observation, or the final
    observation where the episode ended (so a truncated step can bootstrap). A step's action,
    reward and flags sit in the slot of its observation's newest frame. The stack ending at slot
    j is frames j - stack + 1 .. j with frames before the episode start replaced by the start
    frame, which is what a frame stacker gives at reset: obs_0 = [f0, f0, f0, f0]. A step whose
    stack needs an overwritten frame is no longer sampled. Capacity counts frames, so each
    episode costs one slot more than its steps.

    Per env, `running` says an episode is under way (the next add continues it) and `seen` that
    anything was stored: only an env's very first add may join an episode midway, storing all
    the frames of its stack; after an episode end the next observation must be padded.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        num_envs: int,
        gamma: float,
        *,
        n_step: int = 1,
        prioritized: bool = False,
        alpha: float = 0.6,
        priority_eps: float = 1e-6,
        compress: bool = False,
    ) -> None:
        if len(obs_shape) != 3:
            raise ValueError(
                f"frame-aware replay needs (stack, H, W) observations, got {obs_shape}"
            )
        self.obs_shape, self.gamma, self.n_step = tuple(obs_shape), gamma, n_step
        self.stack, self.compress = obs_shape[0], compress
        length = stream_length(capacity, num_envs, n_step + self.stack + 1)
        check_memory(
            capacity,
            obs_shape,
            np.uint8,
            num_envs=num_envs,
            frame_stack=self.stack,
            prioritized=prioritized,
            compress=compress,
        )
        self.streams = Streams(num_envs, length, n_step)
        slots = length * num_envs
        self.sampler = SlotSampler(slots, prioritized, alpha, priority_eps)
        self.frames = (
            np.empty(slots, dtype=object)
            if compress
            else np.zeros((slots, *obs_shape[1:]), dtype=np.uint8)
        )
        self.start = np.zeros(slots, dtype=bool)
        self.action = np.zeros(slots, dtype=ACTION_DTYPE)
        self.reward = np.zeros(slots, dtype=np.float32)
        self.terminated = np.zeros(slots, dtype=bool)
        self.truncated = np.zeros(slots, dtype=bool)
        self.running = np.zeros(num_envs, dtype=bool)
        self.seen = np.zeros(num_envs, dtype=bool)
        self._compressed_bytes = 0
        self._all_envs = np.arange(num_envs)

    @property
    def capacity(self) -> int:
        """Frame slots over all envs (capacity rounded down to a multiple of num_envs)."""
        return len(self.start)

    @property
    def nbytes(self) -> int:
        """Bytes of every array this memory holds, compressed frames included."""
        arrays = (self.frames, self.start, self.action, self.reward, self.terminated)
        total = sum(a.nbytes for a in arrays) + self.truncated.nbytes
        return total + self._compressed_bytes + self.sampler.nbytes

    def __len__(self) -> int:
        """Transitions that can be sampled now."""
        return self.sampler.num_valid

    def add(self, transition: Transition) -> None:
        """Store one vector step: per env the next frame (and the first one at episode start)."""
        t = transition
        check_transition(t, self.streams.num_envs, self.obs_shape)
        if t.obs.dtype != np.uint8 or t.next_obs.dtype != np.uint8:
            raise ValueError(f"frame-aware replay stores uint8 frames, got {t.obs.dtype}")
        for env in np.flatnonzero(~self.running):
            self._begin_episode(int(env), t.obs[env])
        step = self.streams.newest()
        self.action[step], self.reward[step] = t.action, t.reward
        self.terminated[step], self.truncated[step] = t.terminated, t.truncated
        self._write(self._all_envs, t.next_obs[:, -1], start=False)
        done = np.logical_or(t.terminated, t.truncated)
        self.sampler.validate(self.streams.completed(step, done))
        self.running = ~done

    def _begin_episode(self, env: int, obs: np.ndarray) -> None:
        """Store the first observation's frames: one if padded, all when joining midway."""
        if np.all(obs == obs[0]):
            frames = obs[-1:]
        elif not self.seen[env]:
            frames = obs
        else:
            raise ValueError(
                f"env {env}: an episode's first observation must be its first frame repeated "
                f"{self.stack} times (as a frame stacker gives at reset); got distinct frames "
                "(do the envs autoreset in same-step mode?)"
            )
        for i, frame in enumerate(frames):
            self._write(np.array([env]), frame[None], start=i == 0)
        self.seen[env] = True

    def _write(self, env: np.ndarray, frame: np.ndarray, start: bool) -> np.ndarray:
        """Append one frame per env; steps whose stacks need the overwritten slot stop counting."""
        index = self.streams.take(env)
        oldest = self.streams.shift(index[:, None], np.arange(1, self.stack))
        needs_index = np.cumsum(self.start[oldest], axis=1) == 0  # no episode start in between
        self.sampler.invalidate(np.concatenate([index, oldest[needs_index]]))
        self.start[index] = start
        if not self.compress:
            self.frames[index] = frame
            return index
        for i, f in zip(index, frame, strict=True):
            old = self.frames[i]
            self.frames[i] = zlib.compress(f.tobytes(), 1)
            self._compressed_bytes += sys.getsizeof(self.frames[i])
            self._compressed_bytes -= sys.getsizeof(old) if old is not None else 0
        return index

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 1.0) -> ReplayBatch:
        """Draw a batch uniformly or by priority (`beta`: importance-weight exponent)."""
        s = self.streams
        index, weight = self.sampler.sample(batch_size, rng, beta, s.size, s.length)
        if self.n_step == 1:
            reward = self.reward[index]
            discount = np.where(self.terminated[index], 0.0, self.gamma).astype(np.float32)
            after = s.shift(index, 1)
        else:
            window = s.window(index)
            reward, discount, k = n_step_targets(
                self.reward[window], self.terminated[window], self.truncated[window], self.gamma
            )
            after = s.shift(index, k)
        # One gather for both stacks: compressed frames they share are decoded once.
        obs, next_obs = self._frames_at(np.stack([self._stack(index), self._stack(after)]))
        return ReplayBatch(obs, self.action[index], reward, next_obs, discount, weight, index)

    def _stack(self, newest: np.ndarray) -> np.ndarray:
        """(B, stack) slots of the stacks ending at `newest`, oldest first, padded at starts."""
        back = np.arange(self.stack)
        behind = self.streams.shift(newest[:, None], -back)  # column d: d frames back
        starts = self.start[behind[:, :-1]]
        first_start = np.where(starts.any(axis=1), starts.argmax(axis=1), self.stack - 1)
        source = self.streams.shift(newest[:, None], -np.minimum(back, first_start[:, None]))
        return source[:, ::-1]

    def _frames_at(self, source: np.ndarray) -> np.ndarray:
        """Frames of slots `source` (any shape), decompressing each distinct slot once."""
        if not self.compress:
            frames: np.ndarray = self.frames[source]
            return frames
        unique, inverse = np.unique(source.ravel(), return_inverse=True)
        decoded = np.stack([self._decode(self.frames[i]) for i in unique])
        return decoded[inverse].reshape(*source.shape, *self.obs_shape[1:])

    def _decode(self, blob: bytes | None) -> np.ndarray:
        """One decompressed frame (zeros for a slot never written)."""
        if blob is None:
            return np.zeros(self.obs_shape[1:], dtype=np.uint8)
        return np.frombuffer(zlib.decompress(blob), dtype=np.uint8).reshape(self.obs_shape[1:])

    def update_priorities(self, index: np.ndarray, td_abs: np.ndarray) -> None:
        """Prioritised: priorities (|td| + eps) ** alpha for `index` from the latest sample()."""
        self.sampler.update(index, td_abs)

    def _layout(self) -> dict[str, Any]:
        return {
            "kind": "frames",
            "slots": self.capacity,
            "obs_shape": list(self.obs_shape),
            "compress": self.compress,
        }

    def state_dict(self) -> dict[str, Any]:
        """Frames, flags, cursors and sampler state, for an exact resume."""
        frames = _pack(self.frames) if self.compress else {"frames": self.frames}
        return {
            "layout": self._layout(),
            **frames,
            **{key: getattr(self, key) for key in _FRAME_ARRAYS},
            "running": self.running,
            "seen": self.seen,
            "streams": self.streams.state_dict(),
            "sampler": self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned (into the arrays already allocated)."""
        check_layout(self._layout(), state)
        if self.compress:
            self.frames[:] = _unpack(state["frame_bytes"], state["frame_lengths"])
            self._compressed_bytes = sum(sys.getsizeof(b) for b in self.frames if b is not None)
        else:
            np.copyto(self.frames, state["frames"])
        for key in (*_FRAME_ARRAYS, "running", "seen"):
            np.copyto(getattr(self, key), state[key])
        self.streams.load_state_dict(state["streams"])
        self.sampler.load_state_dict(state["sampler"])


def _pack(blobs: np.ndarray) -> dict[str, np.ndarray]:
    """Compressed frames as one byte array plus lengths (-1: never written)."""
    lengths = np.array([-1 if b is None else len(b) for b in blobs], dtype=np.int64)
    data = b"".join(b for b in blobs if b is not None)
    return {"frame_bytes": np.frombuffer(data, dtype=np.uint8).copy(), "frame_lengths": lengths}


def _unpack(data: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Undo `_pack`: an object array of bytes (None where never written)."""
    raw = np.asarray(data, dtype=np.uint8).tobytes()
    ends = np.cumsum(np.maximum(lengths, 0))
    blobs = np.empty(len(lengths), dtype=object)
    for i, (end, n) in enumerate(zip(ends.tolist(), lengths.tolist(), strict=True)):
        blobs[i] = None if n < 0 else raw[end - n : end]
    return blobs
