"""Aggregate statistics over runs, as Agarwal et al. 2021 define them ("Deep Reinforcement Learning
at the Edge of the Statistical Precipice"; the `rliable` package), on numpy alone.

Scores are a matrix of `runs x tasks` (a 1-D array is one task): the interquartile mean pools
every run of every task and averages the middle half; the optimality gap is how far the scores
fall short of a target `gamma` (scores above it count as `gamma`); the probability of improvement
P(X > Y) is, per task, the chance that a random run of X scores above a random run of Y (ties
count a half: the Mann-Whitney U statistic over the pairs), averaged over tasks; the performance
profile (run-score distribution) is the fraction of runs scoring above each threshold tau.

Confidence intervals come from the stratified bootstrap: each replicate resamples the runs of
every task with replacement, independently per task (and per algorithm), and the interval is the
percentile interval of the statistic over the replicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[..., np.ndarray]
"""A statistic over score matrices: called with arrays of shape (reps, runs, tasks), one per
algorithm, it returns one value per replicate (shape (reps,)), or a row per replicate."""


def as_matrix(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores as a float (runs, tasks) matrix; a 1-D array is the runs of one task."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"scores must be runs x tasks with at least one of each, got {array.shape}"
        )
    return array


def mean(scores: np.ndarray) -> np.ndarray:
    """The mean over tasks of each task's mean over runs (batched over leading axes)."""
    return np.asarray(np.mean(np.mean(scores, axis=-2), axis=-1))


def median(scores: np.ndarray) -> np.ndarray:
    """The median over tasks of each task's mean over runs."""
    return np.asarray(np.median(np.mean(scores, axis=-2), axis=-1))


def iqm(scores: np.ndarray) -> np.ndarray:
    """The interquartile mean: the mean of all runs' and tasks' scores after dropping
    floor(n / 4) from each end (scipy.stats.trim_mean with 0.25, as rliable computes it)."""
    flat = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)
    cut = flat.shape[-1] // 4
    return np.asarray(np.mean(flat[..., cut : flat.shape[-1] - cut], axis=-1))


def optimality_gap(scores: np.ndarray, gamma: float) -> np.ndarray:
    """gamma - mean(min(score, gamma)) over all runs and tasks."""
    return np.asarray(gamma - np.mean(np.minimum(scores, gamma), axis=(-2, -1)))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y): per task, the fraction of (run of X, run of Y) pairs where X scores higher,
    ties counting a half; averaged over tasks. x: (..., runs_x, tasks), y: (..., runs_y, tasks)."""
    greater = x[..., :, None, :] > y[..., None, :, :]
    ties = x[..., :, None, :] == y[..., None, :, :]
    per_task = np.mean(greater + 0.5 * ties, axis=(-3, -2))
    return np.asarray(np.mean(per_task, axis=-1))


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """The fraction of runs (over all tasks) scoring above each tau."""
    above = scores[..., None] > np.asarray(taus, dtype=np.float64)
    return np.asarray(np.mean(above, axis=(-3, -2)))


def stratified_resample(scores: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """`reps` bootstrap replicates of a (runs, tasks) matrix, shape (reps, runs, tasks): the
    runs of each task drawn with replacement, independently per task."""
    runs, tasks = scores.shape
    index = rng.integers(0, runs, size=(reps, runs, tasks))
    return np.take_along_axis(np.broadcast_to(scores, (reps, runs, tasks)), index, axis=1)


def bootstrap_ci(
    statistic: Statistic,
    *score_sets: np.ndarray,
    reps: int = 50_000,
    confidence: float = 0.95,
    seed: int = 0,
    chunk: int = 5_000,
) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of `statistic` over stratified bootstrap replicates of each score
    matrix (one per algorithm, resampled independently): (low, high), each the statistic's shape.
    rliable's default is 50,000 replicates; they run in chunks to bound the memory."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    matrices = [as_matrix(s) for s in score_sets]
    values = []
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        values.append(np.asarray(statistic(*(stratified_resample(m, n, rng) for m in matrices))))
    replicates = np.concatenate(values, axis=0)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail], axis=0)
    return low, high


def mean_band(
    curves: np.ndarray, reps: int = 2_000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean curve over runs (curves: runs x points) and its bootstrap confidence band (the
    runs resampled with replacement, the percentile interval of the mean at each point)."""
    curves = np.asarray(curves, dtype=np.float64)
    if curves.ndim != 2 or curves.shape[0] == 0:
        raise ValueError(f"curves must be runs x points, got shape {curves.shape}")
    rng = np.random.default_rng(seed)
    runs = curves.shape[0]
    counts = rng.multinomial(runs, np.full(runs, 1.0 / runs), size=reps)  # draws of each run
    means = counts @ curves / runs  # (reps, points), without a (reps, runs, points) array
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail], axis=0)
    return curves.mean(axis=0), low, high
