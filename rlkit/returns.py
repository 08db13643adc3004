"""Returns and advantages as pure numpy functions over rollouts of shape (T, N): time, env.

SAME_STEP semantics, as rlkit's rollout produces them: for step t of env n, `rewards[t, n]` is
r_t, `values[t, n]` is V(s_t) and `next_values[t, n]` is V(s_{t+1}), where s_{t+1} is the TRUE
next observation (the final one where the episode ended). A terminated step never bootstraps; a
truncated step bootstraps from V(final obs) and then cuts the trace, since the next row of that
env belongs to a new episode.
"""

from __future__ import annotations

import numpy as np


def discounted_returns(rewards: np.ndarray, gamma: float, bootstrap: float = 0.0) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1} over one episode's rewards, with G beyond the end = bootstrap.

    (The book prints the update as G = G + gamma * r; the recursion above is the right one.)
    """
    returns = np.empty(len(rewards), dtype=np.float64)
    running = float(bootstrap)
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        returns[t] = running
    return returns


def standardize(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(x - mean) / (std + eps); a single element (std 0) becomes 0."""
    x = np.asarray(x, dtype=np.float64)
    standardized: np.ndarray = (x - x.mean()) / (x.std() + eps)
    return standardized


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    lam: float,
) -> np.ndarray:
    """Generalised advantage estimates, (T, N).

    delta_t = r_t + gamma * (1 - terminated_t) * next_value_t - value_t and
    A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}, done = terminated | truncated,
    with A = 0 beyond the rollout.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    keep = 1.0 - np.asarray(terminated, dtype=np.float64)
    carry = 1.0 - np.logical_or(terminated, truncated).astype(np.float64)
    deltas: np.ndarray = rewards + gamma * keep * next_values - values
    advantages = np.empty_like(deltas)
    running = np.zeros_like(deltas[0])
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + gamma * lam * carry[t] * running
        advantages[t] = running
    return advantages


def n_step_returns(
    rewards: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    gamma: float,
    n: int,
) -> np.ndarray:
    """n-step returns, (T, N): each step sums at most n discounted rewards, stopping at the
    rollout's end and at the episode's end, then adds gamma^k * V(next obs of the last summed
    step) unless that step terminated. With n = T it is the classic A2C rollout return."""
    rewards = np.asarray(rewards, dtype=np.float64)
    length = len(rewards)
    done = np.logical_or(terminated, truncated)
    keep = 1.0 - np.asarray(terminated, dtype=np.float64)
    returns = np.zeros_like(rewards)
    discount = np.ones_like(rewards)
    open_window = np.ones(rewards.shape, dtype=bool)  # window of row t still takes rewards
    for k in range(min(n, length)):
        rows = length - k  # windows starting at t < T - k can reach step t + k
        active = open_window[:rows]
        returns[:rows] += np.where(active, discount[:rows] * rewards[k:], 0.0)
        ends = active & done[k:]
        if k == n - 1:
            ends = active.copy()
        ends[-1] = active[-1]  # step T - 1 is the last one inside the rollout
        bootstrap = discount[:rows] * gamma * keep[k:] * next_values[k:]
        returns[:rows] += np.where(ends, bootstrap, 0.0)
        open_window[:rows] &= ~ends
        discount[:rows] *= gamma
    return returns


def explained_variance(predicted: np.ndarray, target: np.ndarray) -> float:
    """1 - Var(target - predicted) / Var(target): 1 is perfect, 0 no better than the mean."""
    variance = float(np.var(target))
    if variance == 0.0:
        return float("nan")
    return 1.0 - float(np.var(np.asarray(target) - np.asarray(predicted))) / variance
