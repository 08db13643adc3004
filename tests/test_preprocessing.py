"""Frame stacking (the padding rule), FrameStackVectorEnv's SAME_STEP contract, area resize."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from rlkit.agent import Agent, EnvSpec
from rlkit.envs.preprocessing import FrameStacker, FrameStackVectorEnv, resize_area, stack_indices
from rlkit.rollout import RolloutState, rollout


def frames(*values: int) -> np.ndarray:
    """One 1x2 frame per env, both pixels equal to the env's value."""
    return np.array([[[v, v]] for v in values], dtype=np.uint8)


def pixels(stacker: FrameStacker) -> list[list[int]]:
    """Each env's stack as the list of its frames' first pixel, oldest first."""
    return stacker.stacks[:, :, 0, 0].tolist()  # type: ignore[no-any-return]


def test_stack_indices_pad_with_the_first_frame() -> None:
    assert stack_indices(0, 4).tolist() == [0, 0, 0, 0]
    assert stack_indices(2, 4).tolist() == [0, 0, 1, 2]
    assert stack_indices(5, 4).tolist() == [2, 3, 4, 5]
    assert stack_indices(np.array([0, 1, 7]), 3).tolist() == [[0, 0, 0], [0, 0, 1], [5, 6, 7]]
    assert stack_indices(3, 1).tolist() == [3]


def test_stacker_by_hand() -> None:
    stacker = FrameStacker(num_envs=2, stack=4, frame_shape=(1, 2))
    stacker.reset(frames(10, 20))
    assert pixels(stacker) == [[10, 10, 10, 10], [20, 20, 20, 20]]
    stacker.push(frames(11, 21))
    stacker.push(frames(12, 22))
    assert pixels(stacker) == [[10, 10, 11, 12], [20, 20, 21, 22]]
    # env 1 ends: its final frame is 23 and its new episode starts with 30
    final = stacker.step(frames(13, 30), np.array([False, True]), frames(0, 23))
    assert final is not None
    assert final[1, :, 0, 0].tolist() == [20, 21, 22, 23]
    assert pixels(stacker) == [[10, 11, 12, 13], [30, 30, 30, 30]]
    assert stacker.step(frames(14, 31), np.array([False, False])) is None
    assert pixels(stacker) == [[11, 12, 13, 14], [30, 30, 30, 31]]


def test_stacker_partial_reset_push_and_with_frames() -> None:
    stacker = FrameStacker(num_envs=3, stack=2, frame_shape=(1, 2))
    stacker.reset(frames(1, 2, 3))
    stacker.reset(frames(9, 8, 7), where=np.array([False, True, False]))
    stacker.push(frames(4, 0, 5), where=np.array([True, False, True]))
    assert pixels(stacker) == [[1, 4], [8, 8], [3, 5]]
    preview = stacker.with_frames(frames(6, 6, 6), np.array([True, False, True]))
    assert preview[:, :, 0, 0].tolist() == [[4, 6], [5, 6]]
    assert pixels(stacker) == [[1, 4], [8, 8], [3, 5]]  # unchanged
    obs = stacker.observation()
    obs[:] = 0
    assert pixels(stacker) == [[1, 4], [8, 8], [3, 5]]  # a copy


def test_stacker_errors() -> None:
    with pytest.raises(ValueError, match="stack"):
        FrameStacker(1, 0, (1,))
    stacker = FrameStacker(1, 2, (1,))
    stacker.reset(np.zeros((1, 1), np.uint8))
    with pytest.raises(ValueError, match="final_frames"):
        stacker.step(np.zeros((1, 1), np.uint8), np.array([True]))


def test_stacker_follows_stack_indices_over_random_episodes() -> None:
    rng = np.random.default_rng(0)
    n, k = 3, 4
    stacker = FrameStacker(n, k, (1,), dtype=np.int64)
    episodes: list[list[int]] = [[int(rng.integers(1000))] for _ in range(n)]
    stacker.reset(np.array([[e[0]] for e in episodes]))
    for _ in range(60):
        new = rng.integers(1000, size=(n, 1))
        done = rng.random(n) < 0.2
        last = rng.integers(1000, size=(n, 1))
        final = stacker.step(new, done, last)
        for i in range(n):
            if done[i]:
                ended = [*episodes[i], int(last[i, 0])]
                want = [ended[j] for j in stack_indices(len(ended) - 1, k)]
                assert final is not None
                assert final[i, :, 0].tolist() == want
                episodes[i] = [int(new[i, 0])]
            else:
                episodes[i].append(int(new[i, 0]))
            want = [episodes[i][j] for j in stack_indices(len(episodes[i]) - 1, k)]
            assert stacker.stacks[i, :, 0].tolist() == want


class Counter(gym.Env[np.ndarray, Any]):
    """Frame [episode, t] (uint8); the episode ends (terminated) after `length` steps."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.observation_space = gym.spaces.Box(0, 255, (2,), np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self.episode = -1
        self.t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self._frame(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.t += 1
        return self._frame(), 1.0, self.t == self.length, False, {}

    def _frame(self) -> np.ndarray:
        return np.array([self.episode, self.t], dtype=np.uint8)


def counters(*lengths: int) -> FrameStackVectorEnv:
    fns = [lambda n=n: Counter(n) for n in lengths]
    return FrameStackVectorEnv(SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP), 3)


def test_frame_stack_vector_env_same_step_contract() -> None:
    envs = counters(2, 4)
    assert envs.single_observation_space.shape == (3, 2)
    assert envs.observation_space.shape == (2, 3, 2)
    obs, _ = envs.reset(seed=0)
    assert obs.tolist() == [[[0, 0]] * 3] * 2  # first frame repeated
    obs, _, terminated, _, info = envs.step(np.zeros(2, dtype=np.int64))
    assert not terminated.any()
    assert "final_obs" not in info
    assert obs[0].tolist() == [[0, 0], [0, 0], [0, 1]]
    obs, _, terminated, truncated, info = envs.step(np.zeros(2, dtype=np.int64))
    assert terminated.tolist() == [True, False]
    assert not truncated.any()
    assert info["_final_obs"].tolist() == [True, False]
    assert info["final_obs"][0].tolist() == [[0, 0], [0, 1], [0, 2]]  # final frame shifted in
    assert obs[0].tolist() == [[1, 0]] * 3  # the new episode's first frame, repeated
    assert obs[1].tolist() == [[0, 0], [0, 1], [0, 2]]
    kept = obs.copy()
    envs.step(np.zeros(2, dtype=np.int64))
    assert (obs == kept).all()  # returned arrays are not overwritten later


class Constant(Agent[None]):
    """Always action 0."""

    config_class = type(None)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        return np.zeros(len(obs), dtype=np.int64)


def test_rollout_sees_stacked_final_observations() -> None:
    envs = counters(3)
    spec = EnvSpec("counter", envs.single_observation_space, envs.single_action_space, 1)
    state = RolloutState.reset(envs, seed=0)
    steps = rollout(envs, Constant(None, spec, 0), state, explore=True)
    for _ in range(2):
        next(steps)
    transition, episodes = next(steps)
    assert [e.length for e in episodes] == [3]
    assert transition.next_obs[0].tolist() == [[0, 1], [0, 2], [0, 3]]
    assert state.obs[0].tolist() == [[1, 0]] * 3


def test_resize_area_by_hand() -> None:
    # 3 -> 2 pixels: out0 = (2*s0 + s1) / 3, out1 = (s1 + 2*s2) / 3
    assert resize_area(np.array([[0, 3, 6]], np.uint8), 1, 2).tolist() == [[1, 5]]
    assert resize_area(np.array([[0], [3], [6]], np.uint8), 2, 1).tolist() == [[1], [5]]
    # 2x2 blocks averaged; halves round to even like OpenCV: 1.5 -> 2, 2.5 -> 2
    block = np.array([[1, 2, 2, 3], [1, 2, 2, 3]], np.uint8)
    assert resize_area(block, 1, 2).tolist() == [[2, 2]]


def test_resize_area_atari_screen() -> None:
    screen = np.full((210, 160), 87, np.uint8)
    out = resize_area(screen, 84, 84)
    assert out.shape == (84, 84)
    assert out.dtype == np.uint8
    assert (out == 87).all()
    ramp = np.tile(np.arange(160, dtype=np.uint8), (210, 1))
    row = resize_area(ramp, 84, 84)[0].astype(int)
    assert (np.diff(row) >= 0).all()
    assert row[0] == 0
    # the last output covers source pixels 158.095..160: 0.905 of 158 and all of 159
    assert row[-1] == round((0.905 * 158 + 159) / 1.905)  # 158.525 -> 159
