"""Returns, advantages and GAE: hand-computed values over (T, N) rollouts."""

import math

import numpy as np
import pytest

from rlkit.returns import discounted_returns, explained_variance, gae, n_step_returns, standardize


def column(*values: float) -> np.ndarray:
    """A (T, 1) rollout of one env."""
    return np.array(values, dtype=np.float64)[:, None]


def flags(length: int, at: int | None = None, envs: int = 1) -> np.ndarray:
    out = np.zeros((length, envs), dtype=bool)
    if at is not None:
        out[at] = True
    return out


def test_discounted_returns_recursion_not_the_books_misprint() -> None:
    # G2 = 3, G1 = 2 + 0.5 * 3 = 3.5, G0 = 1 + 0.5 * 3.5 = 2.75. The book's misprint
    # G = G + gamma * r, run backwards from 0, would give [3.0, 2.5, 1.5].
    returns = discounted_returns(np.array([1.0, 2.0, 3.0]), 0.5)
    np.testing.assert_allclose(returns, [2.75, 3.5, 3.0])
    assert not np.allclose(returns, [3.0, 2.5, 1.5])


def test_discounted_returns_bootstrap_beyond_the_end() -> None:
    # G2 = 3 + 0.5 * 4 = 5, G1 = 2 + 2.5 = 4.5, G0 = 1 + 2.25 = 3.25
    returns = discounted_returns(np.array([1.0, 2.0, 3.0]), 0.5, bootstrap=4.0)
    np.testing.assert_allclose(returns, [3.25, 4.5, 5.0])


def test_discounted_returns_of_an_empty_episode() -> None:
    assert discounted_returns(np.array([]), 0.9).shape == (0,)


def test_standardize() -> None:
    np.testing.assert_allclose(
        standardize(np.array([1.0, 2.0, 3.0])), [-math.sqrt(1.5), 0.0, math.sqrt(1.5)], rtol=1e-6
    )
    np.testing.assert_array_equal(standardize(np.array([7.0])), [0.0])


def test_standardize_adds_eps_to_the_std() -> None:
    # mean 1e-8, std 1e-8: (x - mean) / (std + eps) = +-1e-8 / 2e-8
    np.testing.assert_allclose(standardize(np.array([0.0, 2e-8])), [-0.5, 0.5])
    np.testing.assert_allclose(standardize(np.array([0.0, 2e-8]), eps=0.0), [-1.0, 1.0])


def test_standardize_computes_in_float64() -> None:
    standardized = standardize(np.array([1, 2, 3], dtype=np.float32))
    assert standardized.dtype == np.float64
    expected = np.array([-1.0, 0.0, 1.0]) / (math.sqrt(2 / 3) + 1e-8)  # std of 1, 2, 3
    np.testing.assert_allclose(standardized, expected, rtol=1e-12)


# GAE, T = 3, one env: r = 1, V(s_t) = [0.5, 0.4, 0.3], V(s_t+1) = [0.4, 0.3, 0.2], gamma 0.9,
# lambda 0.8, so gamma * lambda = 0.72 and the TD errors are [0.86, 0.87, 0.88].
REWARDS = column(1, 1, 1)
VALUES = column(0.5, 0.4, 0.3)
NEXT_VALUES = column(0.4, 0.3, 0.2)


def test_gae_without_episode_ends() -> None:
    # A2 = 0.88; A1 = 0.87 + 0.72 * 0.88 = 1.5036; A0 = 0.86 + 0.72 * 1.5036 = 1.942592
    advantages = gae(REWARDS, VALUES, NEXT_VALUES, flags(3), flags(3), 0.9, 0.8)
    np.testing.assert_allclose(advantages, column(1.942592, 1.5036, 0.88))


def test_gae_termination_does_not_bootstrap_and_cuts_the_trace() -> None:
    # Terminated at t=1: delta1 = 1 - 0.4 = 0.6 and A1 = 0.6 (row 2 is a new episode);
    # A0 = 0.86 + 0.72 * 0.6 = 1.292
    advantages = gae(REWARDS, VALUES, NEXT_VALUES, flags(3, at=1), flags(3), 0.9, 0.8)
    np.testing.assert_allclose(advantages, column(1.292, 0.6, 0.88))


def test_gae_truncation_bootstraps_from_the_final_obs_and_cuts_the_trace() -> None:
    # Truncated at t=1 with V(final obs) = 2: delta1 = 1 + 0.9 * 2 - 0.4 = 2.4, A1 = 2.4;
    # A0 = 0.86 + 0.72 * 2.4 = 2.588
    next_values = column(0.4, 2.0, 0.2)
    advantages = gae(REWARDS, VALUES, next_values, flags(3), flags(3, at=1), 0.9, 0.8)
    np.testing.assert_allclose(advantages, column(2.588, 2.4, 0.88))


def test_gae_of_a_one_step_rollout_is_the_td_error() -> None:
    advantages = gae(column(1), column(0.5), column(0.4), flags(1), flags(1), 0.9, 0.8)
    np.testing.assert_allclose(advantages, column(0.86))


def test_gae_lambda_0_is_the_td_error() -> None:
    terminated = flags(3, at=1)
    advantages = gae(REWARDS, VALUES, NEXT_VALUES, terminated, flags(3), 0.9, 0.0)
    np.testing.assert_allclose(advantages, column(0.86, 0.6, 0.88))


# n-step returns over two envs, T = 4, gamma 0.5. Env 0: rewards 1..4, no episode end,
# V(s_t+1) = 10, 20, 30, 40. Env 1: rewards 1, terminated at t=1, truncated at t=2,
# V(s_t+1) = 5, 6, 7, 8 (7 is V(final obs) of the truncated episode).
TWO_ENV_REWARDS = np.array([[1, 1], [2, 1], [3, 1], [4, 1]], dtype=np.float64)
TWO_ENV_NEXT = np.array([[10, 5], [20, 6], [30, 7], [40, 8]], dtype=np.float64)
TWO_ENV_TERMINATED = np.array([[0, 0], [0, 1], [0, 0], [0, 0]], dtype=bool)
TWO_ENV_TRUNCATED = np.array([[0, 0], [0, 0], [0, 1], [0, 0]], dtype=bool)


def two_env_returns(n: int) -> np.ndarray:
    return n_step_returns(
        TWO_ENV_REWARDS, TWO_ENV_NEXT, TWO_ENV_TERMINATED, TWO_ENV_TRUNCATED, 0.5, n
    )


def test_one_step_returns_are_td_targets() -> None:
    # r + 0.5 * V(s') except where terminated (env 1, t=1)
    expected = [[6, 3.5], [12, 1], [18, 4.5], [24, 5]]
    np.testing.assert_allclose(two_env_returns(1), expected)


def test_two_step_windows_stop_at_episode_and_rollout_ends() -> None:
    # env 0: G0 = 1 + 0.5*2 + 0.25*20 = 7; G1 = 2 + 1.5 + 7.5 = 11; G2 = 3 + 2 + 10 = 15;
    #        G3 = 4 + 0.5*40 = 24 (one reward left in the rollout)
    # env 1: G0 = 1 + 0.5*1 = 1.5 (t=1 terminated: no bootstrap); G1 = 1;
    #        G2 = 1 + 0.5*7 = 4.5 (truncated: bootstraps, window cut); G3 = 1 + 0.5*8 = 5
    expected = [[7, 1.5], [11, 1], [15, 4.5], [24, 5]]
    np.testing.assert_allclose(two_env_returns(2), expected)


def test_rollout_length_returns_are_the_classic_a2c_return() -> None:
    # env 0: G3 = 24, G2 = 3 + 12 = 15, G1 = 2 + 7.5 = 9.5, G0 = 1 + 4.75 = 5.75
    expected = [[5.75, 1.5], [9.5, 1], [15, 4.5], [24, 5]]
    np.testing.assert_allclose(two_env_returns(4), expected)
    np.testing.assert_allclose(two_env_returns(10), expected)  # n beyond T: the same


def test_n_step_returns_of_float32_rollouts_are_summed_in_float64() -> None:
    # 1e8 - 1 = 99,999,999 needs 27 significant bits: float32 would round it to 1e8
    one = np.ones((1, 1), dtype=np.float32)
    returns = n_step_returns(1e8 * one, -one, flags(1), flags(1), 1.0, 1)
    np.testing.assert_array_equal(returns, [[99_999_999.0]])


def consistent_rollout(
    seed: int, length: int = 12, envs: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random rollout whose V(s_t+1) equals V of the next row unless the episode ended."""
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(length, envs))
    values = rng.normal(size=(length, envs))
    ends = rng.random((length, envs))
    terminated, truncated = ends < 0.15, (ends >= 0.15) & (ends < 0.3)
    next_values = np.empty_like(values)
    next_values[:-1] = values[1:]
    next_values[-1] = rng.normal(size=envs)
    done = terminated | truncated
    next_values[done] = rng.normal(size=int(done.sum()))  # V(final obs)
    return rewards, values, next_values, terminated, truncated


@pytest.mark.parametrize("seed", range(5))
def test_gae_lambda_1_plus_values_equals_rollout_returns(seed: int) -> None:
    rewards, values, next_values, terminated, truncated = consistent_rollout(seed)
    advantages = gae(rewards, values, next_values, terminated, truncated, 0.9, 1.0)
    returns = n_step_returns(rewards, next_values, terminated, truncated, 0.9, len(rewards))
    np.testing.assert_allclose(advantages + values, returns)


@pytest.mark.parametrize("seed", range(5))
def test_n_step_returns_match_a_direct_sum(seed: int) -> None:
    rewards, _, next_values, terminated, truncated = consistent_rollout(seed)
    gamma, n = 0.8, 4
    expected = np.zeros_like(rewards)
    for t in range(len(rewards)):
        for e in range(rewards.shape[1]):
            total, k = 0.0, 0
            while True:
                j = t + k
                total += gamma**k * rewards[j, e]
                if terminated[j, e]:
                    break
                if truncated[j, e] or k == n - 1 or j == len(rewards) - 1:
                    total += gamma ** (k + 1) * next_values[j, e]
                    break
                k += 1
            expected[t, e] = total
    actual = n_step_returns(rewards, next_values, terminated, truncated, gamma, n)
    np.testing.assert_allclose(actual, expected)


def test_explained_variance() -> None:
    target = np.array([1.0, 2.0, 3.0])
    assert explained_variance(target, target) == 1.0
    assert explained_variance(np.full(3, 2.0), target) == pytest.approx(0.0)
    assert math.isnan(explained_variance(target, np.ones(3)))
