"""Two vector envs as one, each half stepped on a worker thread (env.vectorization = "paired").

rlkit.rollout acts on the first half's observations, sends its actions, acts on the second half
while the first steps, then sends the second's: a half's env step overlaps the agent's work on
the other half. That pays where stepping leaves the Python interpreter free and a core idle, as
ale-py's native vector env does (its C++ threads release the GIL); a Python env gains nothing.
Seeded with s, the first half's sub-envs get s, s + 1, ... and the second's carry on from
s + len(first), so both halves together replay the one vector env of the same size.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

AnyVectorEnv = VectorEnv[Any, Any, Any]
Step = tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]


def merge_infos(
    first: dict[str, Any], n_first: int, second: dict[str, Any], n_second: int
) -> dict[str, Any]:
    """The vector infos of two halves as one: per key, the first half's rows then the second's
    (nested dicts, such as "final_info", merged the same way); a key only one half has is
    filled with zeros (False, None) for the other half's rows."""
    merged: dict[str, Any] = {}
    for key in first.keys() | second.keys():
        a, b = first.get(key), second.get(key)
        if isinstance(a, dict) or isinstance(b, dict):
            merged[key] = merge_infos(a or {}, n_first, b or {}, n_second)
            continue
        like = np.asarray(a if a is not None else b)
        parts = [
            np.asarray(x) if x is not None else _blank(rows, like)
            for x, rows in ((a, n_first), (b, n_second))
        ]
        merged[key] = np.concatenate(parts)
    return merged


def _blank(rows: int, like: np.ndarray) -> np.ndarray:
    """`rows` empty rows shaped as `like`'s: None for objects, else zeros (False)."""
    shape = (rows, *like.shape[1:])
    if like.dtype.kind == "O":
        return np.full(shape, None, dtype=object)
    return np.zeros(shape, dtype=like.dtype)


class PairedVectorEnv(VectorEnv):
    """One vector env of two, the same kind (spaces, autoreset mode) and each at least one env."""

    steps_in_halves = True
    """rlkit.rollout's sign to act on one half while the other steps."""

    def __init__(self, first: AnyVectorEnv, second: AnyVectorEnv) -> None:
        if first.single_observation_space != second.single_observation_space:
            raise ValueError("the halves of a paired env must have the same observation space")
        if first.single_action_space != second.single_action_space:
            raise ValueError("the halves of a paired env must have the same action space")
        self.halves = (first, second)
        self.split = first.num_envs
        self.num_envs = first.num_envs + second.num_envs
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = dict(first.metadata)
        self.render_mode = first.render_mode
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rlkit-env-half")

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset both halves (the second seeded where the first's seeds end)."""
        first, second = self.halves
        obs_a, info_a = first.reset(seed=seed, options=options)
        seed_b = None if seed is None else seed + self.split
        obs_b, info_b = second.reset(seed=seed_b, options=options)
        infos = merge_infos(info_a, self.split, info_b, second.num_envs)
        return np.concatenate([obs_a, obs_b]), infos

    def send(self, half: int, actions: np.ndarray) -> Future[Step]:
        """Start stepping one half (0 or 1) with its actions on a worker thread."""
        return self._workers.submit(self.halves[half].step, actions)

    def join(self, first: Step, second: Step) -> Step:
        """The two halves' step results as the whole env's."""
        obs = np.concatenate([first[0], second[0]])
        reward, terminated, truncated = (np.concatenate([first[k], second[k]]) for k in (1, 2, 3))
        infos = merge_infos(first[4], self.split, second[4], self.num_envs - self.split)
        return obs, reward, terminated, truncated, infos

    def step(self, actions: Any) -> Step:
        """Step both halves at once (rlkit.rollout overlaps them with acting instead)."""
        actions = np.asarray(actions)
        pending = self.send(0, actions[: self.split])
        other = self.send(1, actions[self.split :])
        return self.join(pending.result(), other.result())

    def close_extras(self, **kwargs: Any) -> None:
        """Close both halves and the worker threads."""
        self._workers.shutdown(wait=True)
        for half in self.halves:
            half.close()


__all__ = ["PairedVectorEnv", "merge_infos"]
