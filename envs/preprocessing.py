"""Frame stacking shared by acting and replay, and a vector wrapper that stacks frames.

THE PADDING RULE (the replay memory rebuilds stacks with exactly this rule):
the observation at step t of an episode (t = 0 is the first frame after reset) is the stack of
frames [f(t-k+1), ..., f(t-1), f(t)] for a stack of k, where any index below 0 is replaced by 0.
So an episode starts with its first frame repeated, [f0, f0, f0, f0], then [f0, f0, f0, f1],
[f0, f0, f1, f2], [f0, f1, f2, f3], [f1, f2, f3, f4], ... Frames never cross an episode start,
and the final observation of an episode (SAME_STEP `info["final_obs"]`) follows the same rule
with the final frame as f(T). `stack_indices` states the rule as a function; `FrameStacker`
applies it incrementally; both give the same stacks (tests/test_preprocessing.py checks it).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from gymnasium.spaces import Box
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space


def stack_indices(t: int | np.ndarray, stack: int) -> np.ndarray:
    """Episode-relative frame indices forming the stack at step(s) t: max(t-k+1+j, 0), j < k."""
    offsets = np.arange(1 - stack, 1)
    return np.maximum(np.asarray(t)[..., None] + offsets, 0)


@functools.cache
def _area_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's INTER_AREA taps along one axis: (dst, taps) source indices and float32 weights."""
    scale = 1.0 / (dst / src)  # computed as OpenCV does, to the last bit
    rows: list[list[tuple[int, float]]] = []
    for d in range(dst):
        first, last = d * scale, d * scale + scale
        cell = min(scale, src - first)
        hi = min(math.floor(last), src - 1)
        lo = min(math.ceil(first), hi)
        taps = [(lo - 1, (lo - first) / cell)] if lo - first > 1e-3 else []
        taps += [(s, 1.0 / cell) for s in range(lo, hi)]
        if last - hi > 1e-3:
            taps.append((hi, min(last - hi, 1.0, cell) / cell))
        rows.append(taps)
    width = max(len(taps) for taps in rows)
    index = np.zeros((dst, width), dtype=np.intp)
    weight = np.zeros((dst, width), dtype=np.float32)  # padding taps add exactly 0.0
    for d, taps in enumerate(rows):
        for j, (s, w) in enumerate(taps):
            index[d, j], weight[d, j] = s, w
    return index, weight


def resize_area(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Downscale a 2-D uint8 frame like cv2.resize(INTER_AREA), bit for bit, without OpenCV.

    Same taps, float32 products and summation order as OpenCV's generic area resize and the
    same round-half-to-even at the end. OpenCV takes that path for non-integer scales, such as
    210x160 -> 84x84; when both scales are integers it averages with integer arithmetic, which
    can round a half differently.
    """
    xi, xw = _area_taps(frame.shape[1], width)
    yi, yw = _area_taps(frame.shape[0], height)
    src = frame.astype(np.float32)
    rows = np.zeros((frame.shape[0], width), dtype=np.float32)
    for j in range(xi.shape[1]):
        rows += src[:, xi[:, j]] * xw[:, j]
    out = np.zeros((height, width), dtype=np.float32)
    for j in range(yi.shape[1]):
        out += rows[yi[:, j]] * yw[:, j, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class FrameStacker:
    """The last `stack` frames of each of `num_envs` episodes, padded by the padding rule."""

    def __init__(
        self, num_envs: int, stack: int, frame_shape: tuple[int, ...], dtype: Any = np.uint8
    ) -> None:
        if stack < 1:
            raise ValueError(f"stack must be >= 1, got {stack}")
        self.stack = stack
        self.stacks = np.zeros((num_envs, stack, *frame_shape), dtype=dtype)
        """(num_envs, stack, *frame_shape): oldest frame first, newest last."""

    def reset(self, frames: np.ndarray, where: np.ndarray | None = None) -> None:
        """Start new episodes: the stack of each selected env becomes its frame repeated."""
        rows = slice(None) if where is None else np.asarray(where, dtype=bool)
        self.stacks[rows] = np.asarray(frames)[rows][:, None]

    def push(self, frames: np.ndarray, where: np.ndarray | None = None) -> None:
        """Shift the newest frame into each selected env's stack, dropping the oldest."""
        if where is None:
            self.stacks[:, :-1] = self.stacks[:, 1:]
            self.stacks[:, -1] = frames
            return
        rows = np.asarray(where, dtype=bool)
        self.stacks[rows] = self.with_frames(frames, rows)

    def with_frames(self, frames: np.ndarray, where: np.ndarray) -> np.ndarray:
        """Stacks of the selected envs with `frames` shifted in, leaving the state unchanged."""
        rows = np.asarray(where, dtype=bool)
        newest = np.asarray(frames)[rows][:, None]
        return np.concatenate([self.stacks[rows, 1:], newest], axis=1)

    def step(
        self, frames: np.ndarray, done: np.ndarray, final_frames: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Advance one SAME_STEP vector step; return the final stacks (all rows) if any env ended.

        `frames` holds each env's newest frame: the reset frame where `done`, whose true final
        frame is the same row of `final_frames`. Ended envs restart with their reset frame.
        """
        done = np.asarray(done, dtype=bool)
        if not done.any():
            self.push(frames)
            return None
        if final_frames is None:
            raise ValueError("final_frames is required when an env is done")
        final = self.stacks.copy()
        final[done] = self.with_frames(final_frames, done)
        self.push(frames, ~done)
        self.reset(frames, done)
        return final

    def observation(self) -> np.ndarray:
        """A copy of the current stacks, safe to keep."""
        return self.stacks.copy()


def final_frames(obs: np.ndarray, info: dict[str, Any], done: np.ndarray) -> np.ndarray:
    """Dense copy of `obs` whose `done` rows hold info["final_obs"] (any indexable per env)."""
    out = np.array(obs, copy=True)
    for i in np.flatnonzero(done):
        out[i] = info["final_obs"][i]
    return out


class FrameStackVectorEnv(VectorWrapper):
    """Stack single-frame observations of a SAME_STEP vector env by the padding rule.

    The result keeps the SAME_STEP contract: after a done step, obs[i] is the new episode's
    first frame repeated and info["final_obs"][i] the stacked final observation
    (info["_final_obs"] marks which rows are set).
    """

    def __init__(self, env: VectorEnv[Any, Any, Any], stack: int) -> None:
        super().__init__(env)
        space = env.single_observation_space
        if not isinstance(space, Box):
            raise TypeError(f"FrameStackVectorEnv needs a Box observation space, got {space}")
        low = np.repeat(space.low[None], stack, axis=0)
        high = np.repeat(space.high[None], stack, axis=0)
        self.single_observation_space = Box(low, high, dtype=space.dtype)
        self.observation_space = batch_space(self.single_observation_space, env.num_envs)
        self.stacker = FrameStacker(env.num_envs, stack, space.shape, space.dtype)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every sub-env; each stack is its first frame repeated."""
        obs, info = self.env.reset(seed=seed, options=options)
        self.stacker.reset(obs)
        return self.stacker.observation(), info

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step, shift the new frames in and stack the final frames of ended episodes."""
        obs, reward, terminated, truncated, info = self.env.step(actions)
        done = np.logical_or(terminated, truncated)
        last = final_frames(obs, info, done) if done.any() else None
        final = self.stacker.step(obs, done, last)
        if final is not None:
            info = {**info, "final_obs": final, "_final_obs": done}
        return self.stacker.observation(), reward, terminated, truncated, info


__all__ = [
    "FrameStackVectorEnv",
    "FrameStacker",
    "final_frames",
    "resize_area",
    "stack_indices",
]
