"""Novelty by brute force, rank normalisation and the archive's generation counter."""

from __future__ import annotations

import numpy as np
import pytest

from rlkit.agents.ga.novelty import NoveltyArchive, NoveltyConfig, normalised_ranks


@pytest.mark.parametrize("k", [1, 5])
def test_novelty_is_the_mean_distance_to_the_k_nearest_others(k: int) -> None:
    behaviours = np.random.default_rng(0).normal(size=(40, 2))
    archive = NoveltyArchive(NoveltyConfig(mode="ns", k=k), seed=0)
    distances = np.linalg.norm(behaviours[:, None] - behaviours[None], axis=2)
    expected = [np.sort(np.delete(row, i))[:k].mean() for i, row in enumerate(distances)]
    np.testing.assert_allclose(archive.novelty(behaviours), expected)


def test_ranks_of_two_values_are_0_and_1() -> None:
    np.testing.assert_array_equal(normalised_ranks(np.array([3.0, 1.0])), [1.0, 0.0])


def test_each_update_counts_one_generation() -> None:
    archive = NoveltyArchive(NoveltyConfig(mode="ns", archive_probability=0.5), seed=0)
    for _ in range(3):
        archive.update(np.zeros((4, 2)))
    assert archive.state_dict()["generations"] == 3
