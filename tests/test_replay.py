"""Replay memories: wrap-around, n-step targets, frame stacks, priorities, memory and state.

Expected values are worked out by hand in the comments, Dopamine-style. Observations are tiny on
purpose: scalar vectors for the plain memory, 2x2 frames whose pixels all hold one number for the
frame-aware one, so a stack reads as a tuple such as (1, 1, 2).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlkit.replay.base as replay_module
from rlkit.agent import Transition
from rlkit.config import from_dict
from rlkit.errors import CheckpointError, ConfigError
from rlkit.replay import (
    ReplayBatch,
    ReplayConfig,
    ReplayMemory,
    build_replay,
    n_step_targets,
    replay_bytes,
)
from rlkit.replay.base import Streams
from rlkit.replay.frames import FrameReplayMemory
from rlkit.schedules import ScheduleConfig

GAMMA = 0.5
STACK = 3

Memory = ReplayMemory | FrameReplayMemory


# Helpers ---------------------------------------------------------------------------------------


def vector_step(
    obs: float,
    reward: float = 0.0,
    next_obs: float | None = None,
    *,
    action: int = 0,
    terminated: bool = False,
    truncated: bool = False,
) -> Transition:
    """One step of one env whose observation is the single number `obs`."""
    following = obs + 1 if next_obs is None else next_obs
    return Transition(
        obs=np.array([[obs]], dtype=np.float32),
        action=np.array([action]),
        reward=np.array([reward], dtype=np.float32),
        next_obs=np.array([[following]], dtype=np.float32),
        terminated=np.array([terminated]),
        truncated=np.array([truncated]),
    )


def plain(capacity: int, n_step: int = 1, num_envs: int = 1, **options: Any) -> ReplayMemory:
    """A plain memory of scalar float32 observations, gamma 0.5."""
    return ReplayMemory(capacity, (1,), np.float32, num_envs, GAMMA, n_step=n_step, **options)


def frames_memory(capacity: int, n_step: int = 1, **options: Any) -> FrameReplayMemory:
    """A frame-aware memory of one env with 3 stacked 2x2 frames, gamma 0.5."""
    return FrameReplayMemory(capacity, (STACK, 2, 2), 1, GAMMA, n_step=n_step, **options)


def sample_many(memory: Memory, draws: int = 2_000, seed: int = 0) -> ReplayBatch:
    """One big batch: large enough to see every sampleable transition."""
    return memory.sample(draws, np.random.default_rng(seed))


def obs_values(batch: ReplayBatch) -> set[float]:
    """The distinct scalar observations in a plain batch."""
    return {float(v) for v in batch.obs[:, 0]}


def frame(value: int) -> np.ndarray:
    """A 2x2 frame whose pixels all hold `value`."""
    return np.full((2, 2), value, dtype=np.uint8)


def stack_of(values: Iterable[int]) -> np.ndarray:
    """A (stack, 2, 2) observation, oldest frame first."""
    return np.stack([frame(v) for v in values])


def as_tuple(obs: np.ndarray) -> tuple[int, ...]:
    """A (stack, 2, 2) observation as the tuple of its frame values."""
    return tuple(int(f[0, 0]) for f in obs)


def pairs(batch: ReplayBatch) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Distinct (obs, next_obs) stacks of a frame batch."""
    return {(as_tuple(o), as_tuple(n)) for o, n in zip(batch.obs, batch.next_obs, strict=True)}


def frame_rows(batch: ReplayBatch) -> set[tuple[tuple[int, ...], tuple[int, ...], float, float]]:
    """Distinct (obs, next_obs, reward, discount) of a frame batch."""
    rewards, discounts = batch.reward.tolist(), batch.discount.tolist()
    return {
        (as_tuple(o), as_tuple(n), r, d)
        for o, n, r, d in zip(batch.obs, batch.next_obs, rewards, discounts, strict=True)
    }


def vector_rows(batch: ReplayBatch) -> set[tuple[float, float, float, float]]:
    """Distinct (obs, reward, discount, next_obs) of a plain batch of scalar observations."""
    columns = (batch.obs[:, 0], batch.reward, batch.discount, batch.next_obs[:, 0])
    return set(zip(*(c.tolist() for c in columns), strict=True))


def two_envs(obs: tuple[float, float], rewards: tuple[float, float] = (0.0, 0.0)) -> Transition:
    """One step of two envs with scalar observations, each moving on by 1."""
    return Transition(
        obs=np.array(obs, dtype=np.float32)[:, None],
        action=np.zeros(2, dtype=np.int64),
        reward=np.array(rewards, dtype=np.float32),
        next_obs=np.array(obs, dtype=np.float32)[:, None] + 1,
        terminated=np.zeros(2, dtype=bool),
        truncated=np.zeros(2, dtype=bool),
    )


def play(
    memory: FrameReplayMemory,
    frames: list[int],
    end: str | None = None,
    rewards: list[float] | None = None,
) -> None:
    """Add one episode of one env seeing `frames`, as a frame stacker gives them.

    Step t goes from the stack ending at frames[t] to the one ending at frames[t + 1]; the last
    step is terminated or truncated as `end` says (None: the episode is still running).
    """
    history = [frames[0]] * STACK
    for t in range(len(frames) - 1):
        obs = stack_of(history[-STACK:])
        history.append(frames[t + 1])
        last = t == len(frames) - 2
        memory.add(
            Transition(
                obs=obs[None],
                action=np.array([t]),
                reward=np.array([rewards[t] if rewards else frames[t]], dtype=np.float32),
                next_obs=stack_of(history[-STACK:])[None],
                terminated=np.array([last and end == "terminated"]),
                truncated=np.array([last and end == "truncated"]),
            )
        )


def stack_pairs(*sequence: tuple[int, ...]) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(obs, next_obs) pairs of consecutive stacks: stack_pairs(a, b, c) = {(a, b), (b, c)}."""
    return set(itertools.pairwise(sequence))


# n-step targets as a pure function -------------------------------------------------------------


def test_n_step_targets_by_hand() -> None:
    r = np.array([[1.0, 2.0, 4.0]] * 5, dtype=np.float32)
    f, t = False, True
    terminated = np.array([[f, f, f], [f, t, f], [f, f, f], [t, f, f], [f, f, f]])
    truncated = np.array([[f, f, f], [f, f, f], [f, t, f], [f, f, f], [f, f, t]])
    reward, discount, k = n_step_targets(r, terminated, truncated, GAMMA)
    # Row 0: 1 + 0.5 * 2 + 0.25 * 4 = 3, discount 0.5 ** 3.
    # Row 1: terminated at step 1: 1 + 0.5 * 2 = 2, no bootstrap.
    # Row 2: truncated at step 1: 2, bootstrap with 0.5 ** 2 from the final observation.
    # Row 3: terminated at step 0: 1, no bootstrap.
    # Row 4: truncated at the window's last step: the full window, discount 0.5 ** 3.
    assert reward.tolist() == [3.0, 2.0, 2.0, 1.0, 3.0]
    assert discount.tolist() == [0.125, 0.0, 0.25, 0.0, 0.125]
    assert k.tolist() == [3, 2, 2, 1, 3]
    assert reward.dtype == np.float32
    assert discount.dtype == np.float32


def test_n_step_targets_ignore_rewards_after_the_episode_end() -> None:
    r = np.array([[1.0, np.nan, 1e9]], dtype=np.float32)  # garbage past the end is never read
    reward, discount, k = n_step_targets(
        r, np.array([[True, False, False]]), np.array([[False, False, False]]), GAMMA
    )
    assert (reward.tolist(), discount.tolist(), k.tolist()) == ([1.0], [0.0], [1])


# Plain memory: ring, capacity, one-step targets ------------------------------------------------


def test_ring_wraparound_keeps_only_the_newest() -> None:
    memory = plain(5)
    for t in range(8):
        memory.add(vector_step(t))
    # 8 steps into 5 slots: steps 0, 1, 2 were overwritten by 5, 6, 7.
    assert len(memory) == 5
    assert obs_values(sample_many(memory)) == {3.0, 4.0, 5.0, 6.0, 7.0}


def test_wraparound_keeps_each_pair_together() -> None:
    memory = plain(5)
    for t in range(8):
        memory.add(vector_step(t, reward=10 * t, action=t))
    batch = sample_many(memory)
    np.testing.assert_array_equal(batch.next_obs, batch.obs + 1)
    np.testing.assert_array_equal(batch.reward, 10 * batch.obs[:, 0])
    np.testing.assert_array_equal(batch.action, batch.obs[:, 0].astype(np.int64))


def test_streams_count_written_slots_up_to_their_length() -> None:
    streams = Streams(num_envs=2, length=3, n_step=1)
    sizes, slots = [], []
    for _ in range(4):
        slots.append(streams.take(np.array([0, 1])).tolist())
        sizes.append(streams.size.tolist())
    # Env 0 owns slots 0..2, env 1 slots 3..5; the fourth step wraps to each ring's first slot.
    assert slots == [[0, 3], [1, 4], [2, 5], [0, 3]]
    assert sizes == [[1, 1], [2, 2], [3, 3], [3, 3]]


def test_capacity_is_split_evenly_over_envs() -> None:
    memory = plain(11, num_envs=2)
    assert memory.capacity == 10  # 11 // 2 = 5 slots per env
    for t in range(8):
        memory.add(two_envs((t, 100 + t)))
    # Each env keeps its own 5 newest steps.
    newest = {3.0, 4.0, 5.0, 6.0, 7.0}
    assert obs_values(sample_many(memory)) == newest | {100 + v for v in newest}


def test_capacity_too_small_for_the_envs_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"capacity=4 is too small for 4 envs.*at least 8"):
        plain(4, num_envs=4)
    with pytest.raises(ConfigError, match="each env needs >= 4 slots"):
        plain(3, n_step=3)


def test_one_step_targets() -> None:
    memory = plain(10)
    memory.add(vector_step(0, reward=1.0))
    memory.add(vector_step(1, reward=2.0, next_obs=50.0, terminated=True))
    memory.add(vector_step(10, reward=3.0, next_obs=60.0, truncated=True))
    batch = sample_many(memory)
    # (obs, reward, discount, next_obs): bootstrap; terminal, no bootstrap; truncated, bootstrap
    # from the true final observation.
    assert vector_rows(batch) == {
        (0.0, 1.0, 0.5, 1.0),
        (1.0, 2.0, 0.0, 50.0),
        (10.0, 3.0, 0.5, 60.0),
    }
    assert batch.weight.tolist() == [1.0] * len(batch.weight)
    assert batch.index.dtype == np.int64


@pytest.mark.parametrize(("n_step", "prioritized"), [(1, False), (1, True), (3, False)])
def test_batches_have_the_documented_dtypes(n_step: int, prioritized: bool) -> None:
    memory = plain(10, n_step=n_step, prioritized=prioritized)
    for t in range(5):
        memory.add(vector_step(t, reward=1.0, terminated=t == 2))
    batch = sample_many(memory, draws=16)
    assert batch.reward.dtype == batch.discount.dtype == batch.weight.dtype == np.float32
    assert batch.action.dtype == batch.index.dtype == np.int64


def test_empty_memory_cannot_be_sampled() -> None:
    with pytest.raises(ValueError, match="no complete transition"):
        plain(10).sample(1, np.random.default_rng(0))


def test_add_rejects_a_transition_of_the_wrong_shape() -> None:
    memory = plain(10, num_envs=2)
    with pytest.raises(ValueError, match=r"observations of shape \(2, 1\)"):
        memory.add(vector_step(0))
    with pytest.raises(ValueError, match="integer actions"):
        plain(10).add(vector_step(0)._replace(action=np.array([0.5])))


# Plain memory: n-step --------------------------------------------------------------------------


def test_n_step_return_by_hand() -> None:
    memory = plain(10, n_step=3)
    for t, r in enumerate([1.0, 2.0, 4.0]):
        memory.add(vector_step(t, reward=r))
    batch = sample_many(memory, draws=10)
    # Only step 0 has a complete window: 1 + 0.5 * 2 + 0.25 * 4 = 3, discount 0.5 ** 3 = 0.125,
    # and the observation after the window is step 2's next observation, 3.
    assert obs_values(batch) == {0.0}
    assert batch.reward.tolist() == [3.0] * 10
    assert batch.discount.tolist() == [0.125] * 10
    assert batch.next_obs[:, 0].tolist() == [3.0] * 10


def test_windows_near_the_cursor_wait_until_complete() -> None:
    memory = plain(10, n_step=3)
    memory.add(vector_step(0, reward=1.0))
    memory.add(vector_step(1, reward=2.0))
    assert len(memory) == 0  # step 0 still needs step 2's reward
    with pytest.raises(ValueError, match="no complete transition"):
        memory.sample(1, np.random.default_rng(0))
    memory.add(vector_step(2, reward=4.0))
    assert len(memory) == 1
    memory.add(vector_step(3, reward=8.0))
    assert len(memory) == 2
    batch = sample_many(memory)
    # Step 1: 2 + 0.5 * 4 + 0.25 * 8 = 6, next observation 4.
    assert vector_rows(batch) == {(0.0, 3.0, 0.125, 3.0), (1.0, 6.0, 0.125, 4.0)}


def test_termination_inside_the_window_stops_the_sum() -> None:
    memory = plain(10, n_step=3)
    memory.add(vector_step(0, reward=1.0))
    memory.add(vector_step(1, reward=2.0, next_obs=99.0, terminated=True))
    memory.add(vector_step(20, reward=1000.0))  # next episode: must not leak into the sums
    batch = sample_many(memory)
    rows = vector_rows(batch)
    # Step 0: 1 + 0.5 * 2 = 2, discount 0; step 1: 2, discount 0; both end at the final obs 99.
    assert rows == {(0.0, 2.0, 0.0, 99.0), (1.0, 2.0, 0.0, 99.0)}


def test_truncation_inside_the_window_bootstraps_from_the_final_obs() -> None:
    memory = plain(10, n_step=3)
    memory.add(vector_step(0, reward=1.0))
    memory.add(vector_step(1, reward=2.0, next_obs=99.0, truncated=True))
    memory.add(vector_step(20, reward=1000.0))
    batch = sample_many(memory)
    rows = vector_rows(batch)
    # Step 0: 1 + 0.5 * 2 = 2 over k = 2 steps -> discount 0.25; step 1: 2, discount 0.5.
    assert rows == {(0.0, 2.0, 0.25, 99.0), (1.0, 2.0, 0.5, 99.0)}


def test_episode_end_completes_every_short_window() -> None:
    memory = plain(10, n_step=3)
    memory.add(vector_step(0, reward=1.0))
    memory.add(vector_step(1, reward=1.0))
    assert len(memory) == 0
    memory.add(vector_step(2, reward=1.0, terminated=True))
    assert len(memory) == 3  # steps 0, 1, 2 all end inside their windows
    memory.add(vector_step(10, reward=1.0))
    assert len(memory) == 3  # the new episode's first step waits for two more
    assert obs_values(sample_many(memory)) == {0.0, 1.0, 2.0}


def test_n_step_window_across_the_ring_boundary() -> None:
    memory = plain(4, n_step=3)
    for t in range(6):
        memory.add(vector_step(t, reward=2.0**t))
    # Slots hold steps 4, 5, 2, 3; complete windows: step 2 (2, 3, 4) and step 3 (3, 4, 5),
    # whose window runs from slot 3 over the end of the ring to slots 0 and 1.
    batch = sample_many(memory)
    # Step 2: 4 + 0.5 * 8 + 0.25 * 16 = 12; step 3: 8 + 0.5 * 16 + 0.25 * 32 = 24.
    assert vector_rows(batch) == {(2.0, 12.0, 0.125, 5.0), (3.0, 24.0, 0.125, 6.0)}


def test_n_step_windows_never_mix_envs() -> None:
    memory = plain(20, n_step=2, num_envs=2)
    for t in range(6):
        memory.add(two_envs((t, 100 + t), rewards=(1.0, 10.0)))
    batch = sample_many(memory)
    env_1 = batch.obs[:, 0] >= 100
    # Env 0: 1 + 0.5 * 1 = 1.5; env 1: 10 + 0.5 * 10 = 15; the next obs is 2 steps on.
    assert set(batch.reward[~env_1].tolist()) == {1.5}
    assert set(batch.reward[env_1].tolist()) == {15.0}
    np.testing.assert_array_equal(batch.next_obs, batch.obs + 2)
    assert len(memory) == 10  # 5 complete windows per env


# Frame-aware memory: stacks by hand --------------------------------------------------------


def test_stacks_at_an_episode_start() -> None:
    memory = frames_memory(20)
    play(memory, [1, 2, 3, 4, 5])
    assert len(memory) == 4
    assert pairs(sample_many(memory)) == stack_pairs(
        (1, 1, 1), (1, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5)
    )


def test_stacks_never_cross_an_episode_start() -> None:
    memory = frames_memory(20)
    play(memory, [1, 2, 3, 4], end="terminated")
    play(memory, [11, 12, 13])
    found = pairs(sample_many(memory))
    assert found == stack_pairs((1, 1, 1), (1, 1, 2), (1, 2, 3), (2, 3, 4)) | stack_pairs(
        (11, 11, 11), (11, 11, 12), (11, 12, 13)
    )
    assert all(min(obs) >= 11 for obs, _ in found if max(obs) >= 11)


def test_truncation_bootstraps_from_the_final_frame() -> None:
    memory = frames_memory(20)
    play(memory, [1, 2, 9], end="truncated", rewards=[1.0, 2.0])
    play(memory, [21, 22], end="terminated", rewards=[3.0])
    batch = sample_many(memory)
    rows = frame_rows(batch)
    # The final frame 9 was stored too: the truncated step bootstraps from (1, 2, 9) with
    # discount 0.5; the terminated one ends at its final stack with discount 0.
    assert rows == {
        ((1, 1, 1), (1, 1, 2), 1.0, 0.5),
        ((1, 1, 2), (1, 2, 9), 2.0, 0.5),
        ((21, 21, 21), (21, 21, 22), 3.0, 0.0),
    }


def test_actions_and_rewards_belong_to_their_stacks() -> None:
    memory = frames_memory(20)
    play(memory, [1, 2, 3, 4], end="terminated", rewards=[10.0, 20.0, 30.0])
    batch = sample_many(memory)
    newest = batch.obs[:, -1, 0, 0]
    # Step t has action t (see play), reward 10 (t + 1) and its obs ends with frame t + 1.
    np.testing.assert_array_equal(batch.action, newest - 1)
    np.testing.assert_array_equal(batch.reward, 10.0 * newest)


def test_frame_ring_wraparound() -> None:
    memory = frames_memory(8)
    play(memory, list(range(1, 15)))
    # 14 frames into 8 slots: frames 7..14 remain (frame 9 sits in slot 0 after the wrap).
    # Steps with obs ending at 7 or 8 would need frames 5 and 6, now overwritten; frame 14 is
    # only a next observation. So the sampleable stacks end at 9..13.
    assert len(memory) == 5
    assert pairs(sample_many(memory)) == stack_pairs(
        (7, 8, 9), (8, 9, 10), (9, 10, 11), (10, 11, 12), (11, 12, 13), (12, 13, 14)
    )


def test_frame_ring_wraparound_with_an_episode_start() -> None:
    memory = frames_memory(8)
    play(memory, [1, 2, 3], end="terminated")  # slots 0, 1, 2 (frame 3 is the final frame)
    play(memory, [21, 22, 23, 24, 25, 26, 27])  # slots 3..7, then 26 and 27 wrap to 0 and 1
    # Episode 1 lost frames 1 and 2; episode 2 starts at slot 3, so even its first stack is
    # intact and padded with 21 — never with the final frame 3 stored just before it.
    assert len(memory) == 6
    assert pairs(sample_many(memory)) == stack_pairs(
        (21, 21, 21),
        (21, 21, 22),
        (21, 22, 23),
        (22, 23, 24),
        (23, 24, 25),
        (24, 25, 26),
        (25, 26, 27),
    )


def test_overwriting_an_episode_start_invalidates_the_padded_stacks() -> None:
    memory = frames_memory(8)
    play(memory, [1, 2, 3, 4, 5, 6], end="truncated")  # slots 0..5
    play(memory, [21, 22, 23, 24])  # slots 6, 7, then 23, 24 overwrite slots 0, 1
    # Frames 1 and 2 are gone: (1, 1, 1), (1, 1, 2), (1, 2, 3) and (2, 3, 4) all need one.
    found = pairs(sample_many(memory))
    assert found == stack_pairs((3, 4, 5), (4, 5, 6)) | stack_pairs(
        (21, 21, 21), (21, 21, 22), (21, 22, 23), (22, 23, 24)
    )
    assert len(memory) == 4


def test_frame_n_step_by_hand() -> None:
    memory = frames_memory(20, n_step=3)
    play(memory, [1, 2, 3, 4, 5], rewards=[1.0, 2.0, 4.0, 8.0])
    # Steps 0 and 1 have complete windows; 2 and 3 wait for more steps.
    assert len(memory) == 2
    batch = sample_many(memory)
    rows = frame_rows(batch)
    # Step 0: 1 + 0.5 * 2 + 0.25 * 4 = 3 -> stack after 3 steps (2, 3, 4).
    # Step 1: 2 + 0.5 * 4 + 0.25 * 8 = 6 -> (3, 4, 5).
    assert rows == {((1, 1, 1), (2, 3, 4), 3.0, 0.125), ((1, 1, 2), (3, 4, 5), 6.0, 0.125)}


@pytest.mark.parametrize(
    ("end", "discounts"), [("terminated", (0.0, 0.0)), ("truncated", (0.25, 0.5))]
)
def test_frame_n_step_with_the_episode_ending_inside(
    end: str, discounts: tuple[float, ...]
) -> None:
    memory = frames_memory(20, n_step=3)
    play(memory, [1, 2, 9], end=end, rewards=[1.0, 2.0])
    play(memory, [21, 22, 23], rewards=[1000.0, 1000.0])  # must not leak into the sums
    batch = sample_many(memory)
    rows = frame_rows(batch)
    # Step 0: 1 + 0.5 * 2 = 2 over 2 steps; step 1: 2 over 1 step; both end at (1, 2, 9).
    assert rows == {
        ((1, 1, 1), (1, 2, 9), 2.0, discounts[0]),
        ((1, 1, 2), (1, 2, 9), 2.0, discounts[1]),
    }


def test_newest_step_is_sampleable_at_once_with_one_step() -> None:
    memory = frames_memory(20)
    play(memory, [1, 2])
    assert pairs(sample_many(memory, draws=5)) == {((1, 1, 1), (1, 1, 2))}


def test_first_observation_of_an_episode_must_be_padded() -> None:
    memory = frames_memory(20)
    play(memory, [1, 2, 3], end="terminated")
    bad = Transition(
        obs=stack_of([0, 0, 5])[None],  # zero padding instead of repeating the first frame
        action=np.array([0]),
        reward=np.array([0.0], dtype=np.float32),
        next_obs=stack_of([0, 5, 6])[None],
        terminated=np.array([False]),
        truncated=np.array([False]),
    )
    with pytest.raises(ValueError, match="first frame repeated 3 times"):
        memory.add(bad)


def test_first_add_may_join_an_episode_midway() -> None:
    # A memory built after a resume without its replay sees episodes already under way.
    memory = frames_memory(20)
    memory.add(
        Transition(
            obs=stack_of([5, 6, 7])[None],
            action=np.array([0]),
            reward=np.array([1.0], dtype=np.float32),
            next_obs=stack_of([6, 7, 8])[None],
            terminated=np.array([False]),
            truncated=np.array([True]),
        )
    )
    play(memory, [11, 12])
    assert pairs(sample_many(memory)) == {((5, 6, 7), (6, 7, 8)), ((11, 11, 11), (11, 11, 12))}


def test_frame_memory_checks_shapes() -> None:
    with pytest.raises(ValueError, match="stack, H, W"):
        FrameReplayMemory(20, (4, 84), 1, GAMMA)
    memory = frames_memory(20)
    with pytest.raises(ValueError, match="shape"):
        memory.add(vector_step(0))
    floats = stack_of([1, 1, 1]).astype(np.float32)[None]
    step = Transition(
        floats, np.array([0]), np.zeros(1, np.float32), floats, *[np.zeros(1, bool)] * 2
    )
    with pytest.raises(ValueError, match="uint8"):
        memory.add(step)


# Property test: rebuilt stacks equal what was added -------------------------------------------


@dataclass
class Recorded:
    """What the test remembers of one added step of one env."""

    obs: np.ndarray
    action: int
    reward: float
    next_obs: np.ndarray
    terminated: bool
    truncated: bool


@dataclass
class RandomStream:
    """Steps of `num_envs` envs with random episode ends; every frame holds a unique id."""

    num_envs: int
    seed: int
    frames: bool = True
    history: list[list[Recorded]] = field(default_factory=list)
    _counter: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.history = [[] for _ in range(self.num_envs)]
        self.current = [self._reset() for _ in range(self.num_envs)]

    def _fresh(self) -> np.ndarray:
        self._counter += 1
        if not self.frames:
            return np.array([self._counter, -self._counter], dtype=np.float32)
        return np.frombuffer(np.uint32(self._counter).tobytes(), dtype=np.uint8).reshape(2, 2)

    def _reset(self) -> np.ndarray:
        first = self._fresh()
        return np.stack([first] * STACK) if self.frames else first

    def _next(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([obs[1:], self._fresh()[None]]) if self.frames else self._fresh()

    def step(self) -> Transition:
        """The next vector step (after an episode end, that env starts a new episode)."""
        rows = []
        for env in range(self.num_envs):
            obs, ends = self.current[env], self.rng.random() < 0.15
            terminated = bool(ends and self.rng.random() < 0.5)
            row = Recorded(
                obs,
                int(self.rng.integers(6)),
                float(self.rng.normal()),
                self._next(obs),
                terminated,
                ends and not terminated,
            )
            self.history[env].append(row)
            self.current[env] = self._reset() if ends else row.next_obs
            rows.append(row)
        return Transition(
            obs=np.stack([r.obs for r in rows]),
            action=np.array([r.action for r in rows]),
            reward=np.array([r.reward for r in rows], dtype=np.float32),
            next_obs=np.stack([r.next_obs for r in rows]),
            terminated=np.array([r.terminated for r in rows]),
            truncated=np.array([r.truncated for r in rows]),
        )

    def expected(self, env: int, t: int, n_step: int) -> tuple[float, float, np.ndarray]:
        """Hand-rolled n-step (reward, discount, next_obs) of step t of env."""
        reward, discount = 0.0, 1.0
        for row in self.history[env][t : t + n_step]:
            reward += discount * float(np.float32(row.reward))
            discount *= GAMMA
            if row.terminated or row.truncated:
                return reward, 0.0 if row.terminated else discount, row.next_obs
        return reward, discount, row.next_obs

    def lookup(self) -> dict[bytes, tuple[int, int]]:
        """Each step's obs key (its newest frame, unique) -> (env, step number)."""
        return {
            (row.obs[-1] if self.frames else row.obs).tobytes(): (env, t)
            for env, rows in enumerate(self.history)
            for t, row in enumerate(rows)
        }


def check_batch_against_stream(batch: ReplayBatch, stream: RandomStream, n_step: int) -> set[int]:
    """Every sampled transition must equal the one added; returns the distinct steps seen."""
    keys = stream.lookup()
    newest = batch.obs[:, -1] if stream.frames else batch.obs
    steps = [keys[obs.tobytes()] for obs in newest]
    rows = [stream.history[env][t] for env, t in steps]
    targets = {step: stream.expected(*step, n_step) for step in set(steps)}
    np.testing.assert_array_equal(batch.obs, np.stack([row.obs for row in rows]))
    np.testing.assert_array_equal(batch.action, [row.action for row in rows])
    np.testing.assert_array_equal(batch.next_obs, np.stack([targets[s][2] for s in steps]))
    np.testing.assert_allclose(batch.reward, [targets[s][0] for s in steps], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch.discount, [targets[s][1] for s in steps], rtol=1e-6)
    by_index = dict(zip(batch.index.tolist(), steps, strict=True))
    assert len(set(by_index.values())) == len(by_index)  # one handle per step, one step per handle
    return set(by_index)


PROPERTY_CASES = [
    # capacity, n_step, prioritized, compress
    (14, 1, False, False),
    (17, 3, False, False),
    (40, 3, True, False),
    (41, 1, False, True),
    (300, 2, True, True),
]


@pytest.mark.parametrize(("capacity", "n_step", "prioritized", "compress"), PROPERTY_CASES)
def test_rebuilt_stacks_equal_the_added_observations(
    capacity: int, n_step: int, prioritized: bool, compress: bool
) -> None:
    stream = RandomStream(num_envs=2, seed=capacity)
    memory = FrameReplayMemory(
        capacity, (STACK, 2, 2), 2, GAMMA, n_step=n_step, prioritized=prioritized, compress=compress
    )
    rng = np.random.default_rng(0)
    for step in range(400):
        memory.add(stream.step())
        if step % 40 == 39:
            batch = memory.sample(30 * len(memory), rng, beta=0.5)
            seen = check_batch_against_stream(batch, stream, n_step)
            assert len(seen) == len(memory)  # every sampleable step turned up
            memory.update_priorities(batch.index, 1.0 + rng.random(len(batch.index)))


@pytest.mark.parametrize(("capacity", "n_step", "prioritized"), [(10, 1, False), (33, 3, True)])
def test_plain_samples_equal_the_added_transitions(
    capacity: int, n_step: int, prioritized: bool
) -> None:
    stream = RandomStream(num_envs=2, seed=capacity, frames=False)
    memory = ReplayMemory(
        capacity, (2,), np.float32, 2, GAMMA, n_step=n_step, prioritized=prioritized
    )
    rng = np.random.default_rng(0)
    for step in range(300):
        memory.add(stream.step())
        if step % 30 == 29:
            batch = memory.sample(30 * len(memory), rng, beta=0.5)
            assert len(check_batch_against_stream(batch, stream, n_step)) == len(memory)


# Bytes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prioritized", [False, True])
def test_bytes_per_transition_for_atari_frames(prioritized: bool) -> None:
    memory = FrameReplayMemory(10_000, (4, 84, 84), 1, 0.99, prioritized=prioritized)
    per_transition = memory.nbytes / memory.capacity
    print(
        f"\nframe replay, 84x84 stack 4, prioritized={prioritized}: "
        f"{per_transition:.1f} bytes per transition = {per_transition / 84 / 84:.4f} frames"
    )
    assert per_transition <= 1.02 * 84 * 84


@pytest.mark.parametrize(
    ("frame_stack", "prioritized"), [(None, False), (None, True), (4, False), (4, True)]
)
def test_replay_bytes_is_what_gets_allocated(frame_stack: int | None, prioritized: bool) -> None:
    shape, dtype = ((4, 84, 84), np.uint8) if frame_stack else ((6,), np.float32)
    estimate = replay_bytes(
        1001, shape, dtype, num_envs=2, frame_stack=frame_stack, prioritized=prioritized
    )
    if frame_stack:
        memory: Memory = FrameReplayMemory(1001, shape, 2, 0.99, prioritized=prioritized)
    else:
        memory = ReplayMemory(1001, shape, dtype, 2, 0.99, prioritized=prioritized)
    assert memory.capacity == 1000
    assert memory.nbytes == estimate


# Prioritised replay -----------------------------------------------------------------------------


def index_of(memory: Memory, obs: float) -> int:
    """The handle of the plain memory's transition with observation `obs`."""
    batch = sample_many(memory)
    return int(batch.index[batch.obs[:, 0] == obs][0])


def frequencies(memory: Memory, draws: int = 40_000) -> dict[float, float]:
    """Fraction of draws per observation value."""
    batch = memory.sample(draws, np.random.default_rng(5))
    values, counts = np.unique(batch.obs[:, 0], return_counts=True)
    return {float(v): c / draws for v, c in zip(values, counts, strict=True)}


def test_prioritised_sampling_is_proportional_to_priorities() -> None:
    memory = plain(10, prioritized=True, alpha=1.0, priority_eps=1e-9)
    for t in range(4):
        memory.add(vector_step(t))
    handles = [index_of(memory, t) for t in range(4)]
    memory.update_priorities(np.array(handles), np.array([1.0, 2.0, 3.0, 4.0]))
    draws = 40_000
    found = frequencies(memory, draws)
    expected = np.array([0.1, 0.2, 0.3, 0.4])
    observed = np.array([found[t] for t in range(4)])
    chi_square = float((draws * (observed - expected) ** 2 / expected).sum())
    assert chi_square < 16.3  # 99.9% quantile, 3 degrees of freedom


def test_alpha_flattens_priorities() -> None:
    memory = plain(10, prioritized=True, alpha=0.5, priority_eps=1e-9)
    for t in range(2):
        memory.add(vector_step(t))
    memory.update_priorities(
        np.array([index_of(memory, 0), index_of(memory, 1)]), np.array([1.0, 9.0])
    )
    # p ** 0.5 = 1 and 3: P = 1/4 and 3/4.
    found = frequencies(memory)
    assert found[0.0] == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("beta", [1.0, None], ids=["beta_1", "default_beta"])
def test_importance_weights_by_hand_for_a_tiny_memory(beta: float | None) -> None:
    memory = plain(10, prioritized=True, alpha=1.0, priority_eps=1e-9)
    memory.add(vector_step(0))
    memory.add(vector_step(1))
    memory.update_priorities(
        np.array([index_of(memory, 0), index_of(memory, 1)]), np.array([1.0, 3.0])
    )
    given = {} if beta is None else {"beta": beta}  # the default is full correction, beta = 1
    batch = memory.sample(200, np.random.default_rng(0), **given)
    # P = 1/4, 3/4 with N = 2: (N P) ** -1 = 2 and 2/3; over the batch max 2: 1 and 1/3.
    np.testing.assert_allclose(batch.weight[batch.obs[:, 0] == 0], 1.0)
    np.testing.assert_allclose(batch.weight[batch.obs[:, 0] == 1], 1 / 3, rtol=1e-6)
    assert batch.weight.dtype == np.float32


def test_update_priorities_changes_sampling() -> None:
    memory = plain(10, prioritized=True, alpha=1.0, priority_eps=1e-9)
    for t in range(3):
        memory.add(vector_step(t))
    assert frequencies(memory)[1.0] == pytest.approx(1 / 3, abs=0.01)  # all start at max
    handles = np.array([index_of(memory, t) for t in range(3)])
    memory.update_priorities(handles, np.array([0.1, 9.8, 0.1]))
    assert frequencies(memory)[1.0] == pytest.approx(0.98, abs=0.01)


def test_new_transitions_get_the_max_priority() -> None:
    memory = plain(10, prioritized=True, alpha=1.0, priority_eps=1e-9)
    memory.add(vector_step(0))
    memory.add(vector_step(1))
    memory.update_priorities(
        np.array([index_of(memory, 0), index_of(memory, 1)]), np.array([9.0, 1.0])
    )
    memory.add(vector_step(2))
    # Priorities 9, 1 and the new one at the max so far, 9: P = 9/19, 1/19, 9/19.
    found = frequencies(memory)
    assert found[2.0] == pytest.approx(9 / 19, abs=0.01)
    assert found[1.0] == pytest.approx(1 / 19, abs=0.01)


def test_n_step_transitions_enter_at_max_priority_when_complete() -> None:
    memory = plain(10, n_step=2, prioritized=True, alpha=1.0, priority_eps=1e-9)
    memory.add(vector_step(0))
    memory.add(vector_step(1))
    memory.update_priorities(np.array([index_of(memory, 0)]), np.array([4.0]))
    memory.add(vector_step(2))  # completes step 1's window: it enters with priority 4
    assert frequencies(memory)[1.0] == pytest.approx(0.5, abs=0.01)


def test_updates_of_slots_that_are_not_sampleable_are_ignored() -> None:
    memory = plain(4, n_step=2, prioritized=True, alpha=1.0, priority_eps=1e-9)
    for t in range(4):
        memory.add(vector_step(t))
    stale = index_of(memory, 0)
    # Step 4 overwrites step 0's slot and waits for step 5 to complete its window, so the
    # handle now points at a slot that cannot be sampled: the update is dropped.
    memory.add(vector_step(4))
    memory.update_priorities(np.array([stale]), np.array([100.0]))
    memory.add(vector_step(5))  # step 4 enters at the max priority seen (1); step 1 is gone
    assert frequencies(memory) == pytest.approx({2.0: 1 / 3, 3.0: 1 / 3, 4.0: 1 / 3}, abs=0.01)


def test_uniform_memory_ignores_priority_updates() -> None:
    memory = plain(10)
    for t in range(2):
        memory.add(vector_step(t))
    memory.update_priorities(np.array([index_of(memory, 0)]), np.array([100.0]))
    assert frequencies(memory)[0.0] == pytest.approx(0.5, abs=0.01)


def test_prioritised_frame_memory() -> None:
    memory = frames_memory(20, prioritized=True, alpha=1.0, priority_eps=1e-9)
    play(memory, [1, 2, 3])
    batch = sample_many(memory)
    first = int(batch.index[batch.obs[:, -1, 0, 0] == 1][0])
    second = int(batch.index[batch.obs[:, -1, 0, 0] == 2][0])
    memory.update_priorities(np.array([first, second]), np.array([1.0, 3.0]))
    batch = memory.sample(20_000, np.random.default_rng(0), beta=1.0)
    newest = batch.obs[:, -1, 0, 0]
    assert float(np.mean(newest == 1)) == pytest.approx(0.25, abs=0.015)
    np.testing.assert_allclose(batch.weight[newest == 2], 1 / 3, rtol=1e-6)


# Compression ---------------------------------------------------------------------------------


def atari_like_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """84x84 frames with a flat background, rows of bricks, a moving paddle and ball."""
    rng = np.random.default_rng(seed)
    base = np.zeros((84, 84), dtype=np.uint8)
    base[10:22] = np.repeat(rng.integers(60, 200, size=(3, 1)), 4, axis=0)  # brick rows
    base[:, :2] = base[:, -2:] = 142  # walls
    out = []
    for t in range(count):
        f = base.copy()
        f[78:80, 10 + t % 60 : 18 + t % 60] = 200  # paddle
        f[30 + t % 40, 20 + (3 * t) % 50] = 255  # ball
        out.append(f)
    return out


def fill_with_frames(memory: FrameReplayMemory, frames: list[np.ndarray]) -> None:
    """One env playing `frames` as episodes of 50 steps (truncated)."""
    for start in range(0, len(frames) - 50, 51):
        episode = frames[start : start + 51]
        history = [episode[0]] * 4
        for t in range(50):
            obs = np.stack(history[-4:])
            history.append(episode[t + 1])
            memory.add(
                Transition(
                    obs=obs[None],
                    action=np.array([t % 4]),
                    reward=np.array([1.0], dtype=np.float32),
                    next_obs=np.stack(history[-4:])[None],
                    terminated=np.array([False]),
                    truncated=np.array([t == 49]),
                )
            )


def test_compression_round_trip_and_ratio() -> None:
    frames = atari_like_frames(560)
    raw = FrameReplayMemory(600, (4, 84, 84), 1, 0.99, n_step=3)
    packed = FrameReplayMemory(600, (4, 84, 84), 1, 0.99, n_step=3, compress=True)
    fill_with_frames(raw, frames)
    fill_with_frames(packed, frames)
    for seed in range(3):
        a = raw.sample(64, np.random.default_rng(seed))
        b = packed.sample(64, np.random.default_rng(seed))
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    frame_bytes = raw.frames.nbytes
    stored = packed.nbytes - (raw.nbytes - frame_bytes)  # pointers + bytes objects
    ratio = frame_bytes / stored
    print(
        f"\nzlib level 1 on synthetic 84x84 Atari-like frames: {stored / 600:.0f} bytes per "
        f"frame stored (pointer and object included) vs 7056 raw, ratio {ratio:.1f}x"
    )
    assert ratio > 4  # these frames are mostly flat background


def test_compressed_nbytes_tracks_overwrites() -> None:
    memory = FrameReplayMemory(60, (4, 84, 84), 1, 0.99, compress=True)
    fill_with_frames(memory, atari_like_frames(200))
    recount = sum(len(b) + 33 for b in memory.frames if b is not None)
    overhead = memory.nbytes - memory.frames.nbytes - recount
    assert overhead == memory.start.nbytes * (1 + 8 + 4 + 1 + 1) + memory.sampler.nbytes


# Memory check ----------------------------------------------------------------------------------


def test_memory_check_refuses_a_buffer_that_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module, "available_memory", lambda: 16 * 10**9)
    with pytest.raises(ConfigError) as info:
        FrameReplayMemory(10**12, (4, 84, 84), 1, 0.99)  # would be 7 PB: never allocated
    message = str(info.value)
    assert "\n" not in message
    assert "replay.capacity=1,000,000,000,000" in message
    assert "7,072,000.00 GB" in message  # 10**12 * (7056 + 16) bytes
    assert "16.00 GB" in message
    found = re.search(r"a capacity of ([\d,]+) would fit", message)
    assert found is not None
    fit = int(found.group(1).replace(",", ""))
    assert fit > 1_000_000
    assert replay_bytes(fit, (4, 84, 84), np.uint8, frame_stack=4) <= 16 * 10**9


def test_memory_check_for_the_plain_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay_module, "available_memory", lambda: 10**9)
    with pytest.raises(ConfigError, match=r"capacity=100,000,000 needs 4\.70 GB"):
        ReplayMemory(10**8, (4,), np.float32, 8, 0.99, prioritized=False)  # 47 bytes a slot


def test_memory_check_is_skipped_when_meminfo_is_unreadable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(replay_module, "available_memory", lambda: None)
    assert plain(10).capacity == 10


def test_available_memory_reads_meminfo() -> None:
    available = replay_module.available_memory()
    if Path("/proc/meminfo").exists():
        assert available is not None
        assert available > 0
    else:
        assert available is None


def test_compressed_estimate_is_smaller() -> None:
    raw = replay_bytes(10**6, (4, 84, 84), np.uint8, frame_stack=4)
    packed = replay_bytes(10**6, (4, 84, 84), np.uint8, frame_stack=4, compress=True)
    assert raw == 10**6 * (7056 + 16)
    assert packed == 10**6 * (8 + 33 + 1764 + 16)


# State dict -----------------------------------------------------------------------------------


def assert_same_batches(a: Memory, b: Memory, seed: int, updates: bool) -> None:
    """Both memories give identical batches from equal generators (with equal updates)."""
    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(5):
        x, y = a.sample(16, rng_a, 0.6), b.sample(16, rng_b, 0.6)
        for left, right in zip(x, y, strict=True):
            np.testing.assert_array_equal(left, right)
        if updates:
            td = np.linspace(0.1, 3.0, 16)
            a.update_priorities(x.index, td)
            b.update_priorities(y.index, td)


@pytest.mark.parametrize(
    ("frames", "prioritized", "compress"),
    [(True, True, False), (True, False, True), (False, True, False), (False, False, False)],
)
def test_state_dict_round_trip(frames: bool, prioritized: bool, compress: bool) -> None:
    def build() -> Memory:
        if frames:
            return FrameReplayMemory(
                31, (STACK, 2, 2), 2, GAMMA, n_step=2, prioritized=prioritized, compress=compress
            )
        return ReplayMemory(31, (2,), np.float32, 2, GAMMA, n_step=2, prioritized=prioritized)

    stream = RandomStream(num_envs=2, seed=1, frames=frames)
    memory = build()
    for _ in range(60):
        memory.add(stream.step())
    assert_same_batches(memory, memory, seed=0, updates=prioritized)  # move priorities on
    copy = build()
    copy.load_state_dict(memory.state_dict())
    assert len(copy) == len(memory)
    assert copy.nbytes == memory.nbytes
    assert_same_batches(memory, copy, seed=1, updates=prioritized)
    for _ in range(25):  # both go on identically, through the ring's wrap-around
        step = stream.step()
        memory.add(step)
        copy.add(step)
    assert_same_batches(memory, copy, seed=2, updates=prioritized)


def test_state_dict_survives_a_checkpoint_file(tmp_path: Path) -> None:
    from rlkit import checkpoint

    stream = RandomStream(num_envs=2, seed=3)
    memory = FrameReplayMemory(30, (STACK, 2, 2), 2, GAMMA, prioritized=True, compress=True)
    for _ in range(40):
        memory.add(stream.step())
    checkpoint.save(tmp_path / "step-1.pt", {"replay": memory.state_dict()})
    copy = FrameReplayMemory(30, (STACK, 2, 2), 2, GAMMA, prioritized=True, compress=True)
    copy.load_state_dict(checkpoint.load(tmp_path / "step-1.pt")["replay"])
    assert_same_batches(memory, copy, seed=0, updates=True)


def test_state_dict_of_another_layout_is_refused() -> None:
    state = frames_memory(20).state_dict()
    with pytest.raises(CheckpointError, match="layout"):
        frames_memory(30).load_state_dict(state)
    with pytest.raises(CheckpointError, match="layout"):
        plain(20).load_state_dict(state)


# Config and factory -----------------------------------------------------------------------------


def test_config_defaults() -> None:
    config = ReplayConfig()
    assert (config.capacity, config.n_step, config.prioritized) == (1_000_000, 1, False)
    assert (config.alpha, config.priority_eps, config.compress) == (0.6, 1e-6, False)
    assert (config.beta.kind, config.beta.start, config.beta.end) == ("linear", 0.4, 1.0)


def test_every_config_field_has_a_docstring() -> None:
    tree = ast.parse(inspect.getsource(replay_module))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ReplayConfig")
    body = cls.body
    for i, node in enumerate(body):
        if isinstance(node, ast.AnnAssign):
            following = body[i + 1]
            assert isinstance(following, ast.Expr), f"field {node.target} has no docstring"
            assert isinstance(following.value, ast.Constant)
            assert str(following.value.value).strip()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"capacity": 0}, "capacity must be >= 1, got 0"),
        ({"n_step": 0}, "n_step must be >= 1, got 0"),
        ({"alpha": 1.5}, r"alpha must be \[0.0, 1.0\], got 1.5"),
        ({"alpha": -0.1}, r"alpha must be \[0.0, 1.0\], got -0.1"),
        ({"priority_eps": 0.0}, "priority_eps must be > 0, got 0.0"),
        ({"beta": ScheduleConfig(start=0.4, end=2.0)}, r"beta.end must be \[0.0, 1.0\], got 2.0"),
    ],
)
def test_config_range_checks(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplayConfig(**changes)


def test_config_errors_name_the_key_when_loaded() -> None:
    with pytest.raises(ConfigError, match=r"agent.replay.n_step must be >= 1, got 0"):
        from_dict(ReplayConfig, {"n_step": 0}, "agent.replay")
    config = from_dict(ReplayConfig, {"beta": {"kind": "constant", "start": 0.5}}, "agent.replay")
    assert config.beta.kind == "constant"


def test_build_replay_picks_the_frame_memory_for_stacked_pixels() -> None:
    pixels = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    config = ReplayConfig(capacity=1000, n_step=3, prioritized=True, compress=True)
    memory = build_replay(config, pixels, 4, 0.99, frame_stack=4)
    assert isinstance(memory, FrameReplayMemory)
    assert (memory.capacity, memory.n_step, memory.compress, memory.gamma) == (1000, 3, True, 0.99)
    assert memory.sampler.tree is not None


def test_build_replay_picks_the_plain_memory_otherwise() -> None:
    vector = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    memory = build_replay(ReplayConfig(capacity=100), vector, 2, 0.9, frame_stack=None)
    assert isinstance(memory, ReplayMemory)
    assert memory.obs.dtype == np.float32
    assert memory.obs.shape == (100, 4)
    assert memory.sampler.tree is None


def test_build_replay_rejects_mismatched_settings() -> None:
    pixels = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    vector = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    with pytest.raises(ConfigError, match=r"shape \(3, H, W\)"):
        build_replay(ReplayConfig(capacity=100), pixels, 1, 0.9, frame_stack=3)
    with pytest.raises(ConfigError, match="compress"):
        build_replay(ReplayConfig(capacity=100, compress=True), vector, 1, 0.9, frame_stack=None)
    with pytest.raises(ConfigError, match="too small"):
        build_replay(ReplayConfig(capacity=10), pixels, 8, 0.9, frame_stack=4)
