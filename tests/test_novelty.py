"""Novelty search: k-nearest novelty (archive included, self excluded), NSR ranks, the archive's
seeded insertion and state round trip, and behaviour functions."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import rlkit.envs  # noqa: F401 - registers rlkit/DeceptiveMaze-v0
from rlkit import checkpoint
from rlkit.agents.ga.novelty import (
    NoveltyArchive,
    NoveltyConfig,
    behaviour_function,
    normalised_ranks,
)
from rlkit.config import from_dict
from rlkit.errors import ConfigError, SpaceError

POINTS = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [0.0, 1.0]])


def archive(**config: Any) -> NoveltyArchive:
    return NoveltyArchive(NoveltyConfig(**config), seed=0)


def test_novelty_is_the_mean_distance_to_the_k_nearest_others() -> None:
    # pairwise distances: 0-1 5, 0-2 10, 0-3 1, 1-2 5, 1-3 sqrt(18), 2-3 sqrt(85)
    got = archive(mode="ns", k=2).novelty(POINTS)
    expected = [(1 + 5) / 2, (np.sqrt(18) + 5) / 2, (5 + np.sqrt(85)) / 2, (1 + np.sqrt(18)) / 2]
    np.testing.assert_allclose(got, expected)
    np.testing.assert_allclose(archive(mode="ns", k=1).novelty(POINTS), [1, np.sqrt(18), 5, 1])


def test_duplicates_count_as_neighbours_but_self_does_not() -> None:
    twins = np.array([[1.0, 1.0], [1.0, 1.0], [4.0, 5.0]])
    np.testing.assert_allclose(archive(mode="ns", k=1).novelty(twins), [0, 0, 5])


def test_archive_members_are_neighbours() -> None:
    nov = archive(mode="ns", k=2)
    nov.load_state_dict({"behaviours": np.array([[0.0, 2.0], [100.0, 0.0]]), "generations": 0})
    # [0, 0]: nearest are [0, 1] (population, 1) and [0, 2] (archive, 2)
    got = nov.novelty(POINTS)
    assert got[0] == pytest.approx(1.5)
    assert got[3] == pytest.approx(1.0)  # [0, 1]: [0, 0] and [0, 2], both 1 away
    assert got[2] == pytest.approx((5 + np.hypot(6, 6)) / 2)  # [3, 4], then archive [0, 2]


def test_k_larger_than_the_others_averages_all_of_them() -> None:
    np.testing.assert_allclose(archive(mode="ns", k=50).novelty(POINTS[:2]), [5, 5])
    np.testing.assert_allclose(archive(mode="ns").novelty(POINTS[:1]), [0])


def test_selection_scores_per_mode() -> None:
    returns = np.array([1.0, 2.0, 3.0, 0.0])
    off = archive().selection_scores(POINTS, returns)
    np.testing.assert_array_equal(off, returns)
    ns = archive(mode="ns", k=1)
    np.testing.assert_allclose(ns.selection_scores(POINTS, returns), [1, np.sqrt(18), 5, 1])
    np.testing.assert_allclose(ns.last_novelty, [1, np.sqrt(18), 5, 1])
    nsr = archive(mode="nsr", k=1, reward_weight=0.25)
    # return ranks [1/3, 2/3, 1, 0]; novelty ranks (the tie at 1 averaged) [1/6, 2/3, 1, 1/6]
    expected = 0.25 * np.array([1, 2, 3, 0]) / 3 + 0.75 * np.array([1, 4, 6, 1]) / 6
    np.testing.assert_allclose(nsr.selection_scores(POINTS, returns), expected)
    only_reward = archive(mode="nsr", reward_weight=1.0).selection_scores(POINTS, returns)
    np.testing.assert_allclose(only_reward, [1 / 3, 2 / 3, 1, 0])


def test_normalised_ranks() -> None:
    np.testing.assert_allclose(
        normalised_ranks(np.array([3.0, 1.0, 1.0, 2.0])), [1, 1 / 6, 1 / 6, 2 / 3]
    )
    np.testing.assert_allclose(normalised_ranks(np.array([7.0])), [0])


def test_update_adds_each_individual_with_the_configured_probability() -> None:
    everyone = archive(mode="ns", archive_probability=1.0)
    everyone.update(POINTS)
    everyone.update(POINTS[:2])
    np.testing.assert_array_equal(everyone.behaviours, np.concatenate([POINTS, POINTS[:2]]))
    nobody = archive(mode="ns", archive_probability=0.0)
    nobody.update(POINTS)
    assert len(nobody) == 0
    assert nobody.state_dict()["behaviours"].shape == (0, 2)
    some = archive(mode="ns", archive_probability=0.1)
    some.update(np.arange(20_000.0).reshape(-1, 2))
    assert 850 < len(some) < 1150  # 10,000 individuals at p = 0.1


def test_state_round_trip_through_a_checkpoint_continues_identically(tmp_path: Any) -> None:
    def run(nov: NoveltyArchive, generations: range) -> list[np.ndarray]:
        rng = np.random.default_rng(list(generations))
        out = []
        for _ in generations:
            batch = rng.normal(size=(30, 3))
            out.append(nov.selection_scores(batch, batch[:, 0]))
            nov.update(batch)
        return out

    straight = archive(mode="nsr", k=3, archive_probability=0.3)
    expected = run(straight, range(2)) + run(straight, range(2, 5))
    first = archive(mode="nsr", k=3, archive_probability=0.3)
    run(first, range(2))
    checkpoint.save(tmp_path / "a.pt", {"archive": first.state_dict()})
    resumed = archive(mode="nsr", k=3, archive_probability=0.3)
    resumed.load_state_dict(checkpoint.load(tmp_path / "a.pt")["archive"])
    assert len(resumed) == len(first) > 0
    for got, want in zip(run(resumed, range(2, 5)), expected[2:], strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(resumed.behaviours, straight.behaviours)


def test_bad_config_and_inputs() -> None:
    with pytest.raises(ConfigError, match=r"novelty\.k must be >= 1"):
        from_dict(NoveltyConfig, {"k": 0}, "agent.novelty")
    with pytest.raises(ConfigError, match="reward_weight must be in"):
        from_dict(NoveltyConfig, {"reward_weight": 1.5}, "agent.novelty")
    with pytest.raises(ConfigError, match="choose one of 'off', 'ns', 'nsr'"):
        from_dict(NoveltyConfig, {"mode": "novelty"}, "agent.novelty")
    nov = archive(mode="ns")
    with pytest.raises(SpaceError, match="NaN or infinite"):
        nov.selection_scores(np.array([[0.0], [np.nan]]), np.zeros(2))
    with pytest.raises(ValueError, match="2 behaviours but 3 returns"):
        nov.selection_scores(np.zeros((2, 1)), np.zeros(3))
    nov.update(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="width 3, the archive 2"):
        nov.novelty(np.zeros((2, 3)))


def test_behaviour_functions() -> None:
    maze = gym.make("rlkit/DeceptiveMaze-v0")
    obs, _ = maze.reset(seed=0)
    env_fn = behaviour_function(NoveltyConfig(mode="ns"), maze)
    np.testing.assert_allclose(env_fn(obs), [5.0, 3.0], atol=1e-6)
    obs_fn = behaviour_function(NoveltyConfig(mode="ns", behaviour="final_obs"), maze)
    np.testing.assert_array_equal(obs_fn(obs), obs.astype(np.float64))
    cartpole = gym.make("CartPole-v1")
    with pytest.raises(ConfigError, match="CartPole-v1 has none; use behaviour = 'final_obs'"):
        behaviour_function(NoveltyConfig(mode="ns"), cartpole)
    maze.close()
    cartpole.close()
