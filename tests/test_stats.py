"""rlkit.stats against hand-computed values and rliable's own published test values."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from rlkit import stats

# rliable's tests/rliable/metrics_test.py: runs x tasks
X = np.array([[1, 2], [2, 2], [1, 1], [2, 1]], dtype=float)
Y = np.array([[1, 1], [2, 2], [3, 3]], dtype=float)


def test_rliables_published_values() -> None:
    assert stats.mean(X) == 1.5
    assert stats.median(X) == 1.5
    assert stats.iqm(X) == 1.5
    assert stats.mean(Y) == 2
    assert stats.median(Y) == 2
    assert stats.iqm(Y) == 2
    assert stats.probability_of_improvement(X, Y) == pytest.approx(1 / 3)


def test_the_formulas_rliable_calls_in_scipy() -> None:
    """rliable computes the IQM with scipy.stats.trim_mean and P(X > Y) with Mann-Whitney U."""
    scipy_stats = pytest.importorskip("scipy.stats")  # installed with the minatar extra
    rng = np.random.default_rng(5)
    for runs in (3, 5, 10, 13):
        scores = rng.integers(0, 6, size=(runs, 3)).astype(float)  # with ties
        other = rng.integers(0, 6, size=(runs + 2, 3)).astype(float)
        expected = scipy_stats.trim_mean(scores, proportiontocut=0.25, axis=None)
        assert stats.iqm(scores) == pytest.approx(expected)
        u = [
            scipy_stats.mannwhitneyu(scores[:, t], other[:, t], alternative="greater")[0]
            for t in range(3)
        ]
        expected = np.mean(u) / (runs * (runs + 2))
        assert stats.probability_of_improvement(scores, other) == pytest.approx(expected)


def test_iqm_drops_a_quarter_from_each_end_by_hand() -> None:
    assert stats.iqm(stats.as_matrix([8, 1, 7, 2, 6, 3, 5, 4])) == 4.5  # mean of 3, 4, 5, 6
    # 10 scores: floor(10 / 4) = 2 dropped from each end, the middle 6 averaged
    ten = [0, 100, 1, 2, 3, 4, 5, 6, -50, 7]
    assert stats.iqm(stats.as_matrix(ten)) == pytest.approx((1 + 2 + 3 + 4 + 5 + 6) / 6)
    # pooled over tasks: the 2 x 2 matrix of 1, 2, 3, 40 keeps 2 and 3
    assert stats.iqm(np.array([[1.0, 40.0], [3.0, 2.0]])) == 2.5


def test_median_is_over_task_means() -> None:
    scores = np.array([[0.0, 10.0, 4.0], [2.0, 10.0, 8.0]])  # task means 1, 10, 6
    assert stats.median(scores) == 6.0
    assert stats.mean(scores) == pytest.approx(17 / 3)


def test_optimality_gap_by_hand() -> None:
    scores = stats.as_matrix([0.5, 1.2, 0.8])
    assert stats.optimality_gap(scores, 1.0) == pytest.approx(1 - (0.5 + 1.0 + 0.8) / 3)
    assert stats.optimality_gap(stats.as_matrix([500.0, 500.0]), 500.0) == 0.0


def test_probability_of_improvement_by_hand() -> None:
    x, y = stats.as_matrix([1, 2, 3]), stats.as_matrix([2, 2])
    # pairs: (1,2) 0 twice, (2,2) a half twice, (3,2) 1 twice: 3 of 6
    assert stats.probability_of_improvement(x, y) == 0.5
    assert stats.probability_of_improvement(x, x) == 0.5  # identical: a coin flip
    assert stats.probability_of_improvement(stats.as_matrix([5, 6]), y) == 1.0
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    assert stats.probability_of_improvement(a, b) + stats.probability_of_improvement(
        b, a
    ) == pytest.approx(1.0)


def test_performance_profile_by_hand() -> None:
    profile = stats.performance_profile(stats.as_matrix([0, 1, 2, 3]), np.array([0.5, 2.5, 3]))
    np.testing.assert_array_equal(profile, [0.75, 0.25, 0.0])  # strictly above tau


def test_statistics_batch_over_replicates() -> None:
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(6, 9, 2))
    for statistic in (stats.mean, stats.median, stats.iqm):
        np.testing.assert_allclose(statistic(batch), [statistic(m) for m in batch])
    other = rng.normal(size=(6, 4, 2))
    np.testing.assert_allclose(
        stats.probability_of_improvement(batch, other),
        [stats.probability_of_improvement(a, b) for a, b in zip(batch, other, strict=True)],
    )


def test_stratified_resampling_keeps_each_tasks_runs_in_that_task() -> None:
    scores = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    sample = stats.stratified_resample(scores, 500, np.random.default_rng(0))
    assert sample.shape == (500, 3, 2)
    assert set(np.unique(sample[..., 0])) == {1.0, 2.0, 3.0}
    assert set(np.unique(sample[..., 1])) == {10.0, 20.0, 30.0}
    # the two tasks are resampled independently, not with the same run indices
    assert not np.array_equal(sample[..., 0] * 10, sample[..., 1])


def test_bootstrap_ci_of_the_mean_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(10.0, 2.0, size=400)
    low, high = stats.bootstrap_ci(stats.mean, scores, reps=4_000, seed=1)
    half = 1.96 * scores.std() / np.sqrt(len(scores))
    assert low == pytest.approx(scores.mean() - half, abs=0.03)
    assert high == pytest.approx(scores.mean() + half, abs=0.03)
    const = stats.bootstrap_ci(stats.iqm, np.full(5, 7.0), reps=100)
    assert const == (7.0, 7.0)


def test_bootstrap_ci_of_two_algorithms_and_of_a_profile() -> None:
    x, y = np.arange(10.0), np.arange(10.0) + 100.0
    low, high = stats.bootstrap_ci(stats.probability_of_improvement, y, x, reps=200)
    assert (low, high) == (1.0, 1.0)
    gap = functools.partial(stats.optimality_gap, gamma=5.0)
    low, high = stats.bootstrap_ci(gap, x, reps=2_000)
    assert low <= stats.optimality_gap(stats.as_matrix(x), 5.0) <= high
    taus = np.array([-1.0, 4.5, 20.0])
    low, high = stats.bootstrap_ci(
        lambda s: stats.performance_profile(s, taus), x, reps=2_000, chunk=300
    )
    assert low.shape == (3,)
    np.testing.assert_array_equal(low[[0, 2]], [1.0, 0.0])
    assert low[1] < 0.5 < high[1]


def test_mean_band() -> None:
    curves = np.array([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [4.0, 5.0, 6.0]])
    centre, low, high = stats.mean_band(curves, reps=1_000)
    np.testing.assert_array_equal(centre, [2.0, 3.0, 4.0])
    assert np.all(low <= centre)
    assert np.all(centre <= high)
    assert np.all(low >= curves.min(axis=0))
    assert np.all(high <= curves.max(axis=0))
    same = stats.mean_band(np.ones((4, 5)))
    for band in same:
        np.testing.assert_array_equal(band, np.ones(5))


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="runs x tasks"):
        stats.as_matrix([])
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci(stats.mean, [1.0, 2.0], confidence=95)
