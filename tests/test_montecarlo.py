"""Monte Carlo prediction and control and TD(0) prediction, with hand-computed updates."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from helpers import batch

from rlkit.agent import EnvSpec, agent_class
from rlkit.agents.montecarlo import (
    Estimates,
    MCControlAgent,
    MCControlConfig,
    first_visits,
    mc_targets,
)
from rlkit.agents.prediction import PredictionAgent, PredictionConfig, load_policy
from rlkit.agents.tabular import epsilon_greedy_probs
from rlkit.errors import SpaceError
from rlkit.schedules import ScheduleConfig

# Sutton & Barto figure 4.1: the equiprobable random policy's values on the 4x4 gridworld
BOOK_RANDOM_VALUES = [
    [0, -14, -20, -22],
    [-14, -18, -20, -20],
    [-20, -20, -18, -14],
    [-22, -20, -14, 0],
]


def spec(num_states: int = 3, num_actions: int = 2, num_envs: int = 1) -> EnvSpec:
    """A made-up Discrete env."""
    space = gym.spaces.Discrete
    return EnvSpec("test/Tiny-v0", space(num_states), space(num_actions), num_envs)


def play(agent: Any, episode: list[tuple[int, int, float, int]]) -> dict[str, float]:
    """Feed one single-env episode [(s, a, r, s')] (the last step terminates), then update."""
    for t, (s, a, r, s2) in enumerate(episode):
        agent.observe(batch([s], [a], [r], [s2], [t == len(episode) - 1]))
    metrics: dict[str, float] = agent.update()
    return metrics


# A, B, A: state 0 is visited twice. rewards 1, 2, 3 with gamma 0.5, backwards G = gamma*G + r:
# G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75.
# (The book's misprint G = G + gamma * r would give G_2 = 1.5, G_1 = 2.5, G_0 = 3.)
EPISODE = [(0, 1, 1.0, 1), (1, 0, 2.0, 0), (0, 1, 3.0, 2)]


def test_returns_accumulate_backwards_as_gamma_g_plus_r() -> None:
    entries, returns = mc_targets(np.array([0, 1, 0]), np.array([1.0, 2.0, 3.0]), 0.5, "every")
    assert entries.tolist() == [0, 1, 0]  # last step first, as the book's loop
    assert returns.tolist() == [3.0, 3.5, 2.75]


def test_first_visit_keeps_only_each_entrys_first_occurrence() -> None:
    assert first_visits(np.array([4, 2, 4, 4, 2, 7])).tolist() == [1, 1, 0, 0, 0, 1]
    entries, returns = mc_targets(np.array([0, 1, 0]), np.array([1.0, 2.0, 3.0]), 0.5, "first")
    assert entries.tolist() == [1, 0]
    assert returns.tolist() == [3.5, 2.75]


@pytest.mark.parametrize(("visit", "v_a"), [("first", 2.75), ("every", (3.0 + 2.75) / 2)])
def test_mc_prediction_of_a_three_step_episode(visit: Any, v_a: float) -> None:
    agent = PredictionAgent(PredictionConfig(visit=visit, gamma=0.5), spec(), seed=0)
    metrics = play(agent, EPISODE)
    np.testing.assert_allclose(agent.values, [v_a, 3.5, 0.0], rtol=0, atol=1e-12)
    assert agent.v.counts.tolist() == ([1, 1, 0] if visit == "first" else [2, 1, 0])
    assert set(metrics) == {"mc_error"}


def test_mc_control_averages_returns_of_state_action_pairs() -> None:
    agent = MCControlAgent(MCControlConfig(visit="every", gamma=0.5), spec(), seed=0)
    play(agent, EPISODE)
    play(agent, [(0, 1, -1.0, 2)])  # a second return of (0, 1): the average of three
    q = agent.q.values
    assert q[0, 1] == pytest.approx((3.0 + 2.75 - 1.0) / 3)
    assert q[1, 0] == 3.5
    assert q[0, 0] == q[1, 1] == 0.0
    assert agent.q.counts[0, 1] == 3
    assert agent.greedy_policy().tolist()[:2] == [1, 0]


def test_sample_average_by_default_constant_step_when_set() -> None:
    average = Estimates((1,), 0.0, None)
    average.learn(np.array([0, 0, 0]), np.array([1.0, 3.0, 8.0]))
    assert average.values[0] == pytest.approx(4.0)
    constant = Estimates((1,), 0.0, 0.5)
    constant.learn(np.array([0, 0]), np.array([1.0, 3.0]))
    assert constant.values[0] == pytest.approx(0.5 + 0.5 * (3.0 - 0.5))


def test_td0_one_step_update_by_hand() -> None:
    agent = PredictionAgent(PredictionConfig(method="td0", step_size=0.1, gamma=0.9), spec(), 0)
    agent.values[:] = [0.5, 2.0, 4.0]
    agent.observe(batch([0, 1], [0, 0], [1.0, -1.0], [1, 2], terminated=[False, True]))
    assert agent.update() == {"td_error": pytest.approx((2.3 + 3.0) / 2)}
    # env 0: target 1 + 0.9 * v(1) = 2.8 -> 0.5 + 0.1 * 2.3; env 1 terminated: target -1 only
    np.testing.assert_allclose(agent.values, [0.73, 2.0 - 0.3, 4.0])


def test_truncated_episodes_bootstrap_from_the_state_they_were_cut_at() -> None:
    agent = PredictionAgent(PredictionConfig(gamma=0.5), spec(), seed=0)
    agent.values[2] = 8.0
    agent.observe(batch([0], [0], [1.0], [1]))
    agent.observe(batch([1], [0], [1.0], [2], truncated=[True]))
    agent.update()
    # G_1 = 1 + 0.5 * v(2) = 5, G_0 = 1 + 0.5 * 5 = 3.5
    assert agent.values[:2].tolist() == [3.5, 5.0]


def test_each_sub_env_keeps_its_own_episode() -> None:
    agent = PredictionAgent(PredictionConfig(gamma=1.0), spec(num_envs=2), seed=0)
    agent.observe(batch([0, 1], [0, 0], [1.0, 10.0], [1, 2], terminated=[False, True]))
    agent.update()
    assert agent.values.tolist() == [0.0, 10.0, 0.0]  # env 1's episode only
    agent.observe(batch([1, 2], [0, 0], [2.0, 0.0], [2, 2], terminated=[True, False]))
    agent.update()
    assert agent.values.tolist() == [3.0, 6.0, 0.0]  # env 0: G = 3 from 0, 2 from 1


def test_exploring_starts_first_actions_cover_every_action_then_greedy() -> None:
    agent = MCControlAgent(MCControlConfig(), spec(num_actions=4, num_envs=64), seed=0)
    agent.q.values[:, 2] = 1.0  # action 2 is greedy everywhere
    states = np.zeros(64, dtype=np.int64)
    first = agent.act(states, explore=True)
    assert set(first.tolist()) == {0, 1, 2, 3}
    ended = np.arange(64) < 8  # the first 8 sub-envs end their episodes
    agent.observe(batch([0] * 64, first.tolist(), [0.0] * 64, [1] * 64, ended.tolist()))
    assert set(agent.act(states, explore=True)[8:].tolist()) == {2}  # mid-episode: greedy
    restarts = [agent.act(states, explore=True)[:8] for _ in range(20)]
    assert set(np.concatenate(restarts).tolist()) == {0, 1, 2, 3}  # new episodes: random
    assert set(agent.act(states, explore=False).tolist()) == {2}  # evaluation: greedy


def test_epsilon_soft_probabilities() -> None:
    q = np.array([[0.0, 5.0, 1.0, 2.0]])
    # greedy: 1 - eps + eps/|A| = 0.8 + 0.05; the others eps/|A| = 0.05
    np.testing.assert_allclose(epsilon_greedy_probs(q, 0.2), [[0.05, 0.85, 0.05, 0.05]])
    config = MCControlConfig(
        exploration="epsilon_soft", epsilon=ScheduleConfig(kind="constant", start=0.2)
    )
    agent = MCControlAgent(config, spec(num_actions=4, num_envs=1), seed=0)
    agent.q.values[0] = q[0]
    actions = agent.act(np.zeros(40_000, dtype=np.int64), explore=True)
    frequencies = np.bincount(actions, minlength=4) / len(actions)
    np.testing.assert_allclose(frequencies, [0.05, 0.85, 0.05, 0.05], atol=0.01)


def test_the_given_policy_is_followed_and_checked() -> None:
    probs = load_policy("random", 5, 4)
    np.testing.assert_allclose(probs, np.full((5, 4), 0.25))
    stick = load_policy("rlkit.envs.blackjack:stick_on_20_or_21", 704, 2)
    agent = PredictionAgent(
        PredictionConfig(policy="rlkit.envs.blackjack:stick_on_20_or_21"), spec(704, 2), seed=0
    )
    states = np.arange(704)
    assert agent.act(states, explore=True).tolist() == stick.argmax(axis=1).tolist()
    with pytest.raises(ValueError, match="neither 'random'"):
        PredictionConfig(policy="greedy")
    with pytest.raises(ValueError, match="cannot load 'rlkit.envs.blackjack:stick_on_19'"):
        PredictionConfig(policy="rlkit.envs.blackjack:stick_on_19")
    with pytest.raises(SpaceError, match="not of an env with 3 states"):
        load_policy("rlkit.envs.blackjack:stick_on_20_or_21", 3, 2)


def test_mc_control_bootstraps_a_truncated_episode_from_its_policys_value() -> None:
    config = MCControlConfig(
        exploration="epsilon_soft", epsilon=ScheduleConfig(kind="constant", start=0.2)
    )
    agent = MCControlAgent(config, spec(), seed=0)
    agent.q.values[2] = [0.0, 10.0]
    agent.observe(batch([0], [1], [1.0], [2], truncated=[True]))
    agent.update()
    # pi(.|2) = [0.1, 0.9]: the tail is 0.9 * 10 = 9, so G = 1 + 9 (gamma 1)
    assert agent.q.values[0, 1] == pytest.approx(10.0)


def test_agents_are_registered_in_the_tabular_family() -> None:
    assert agent_class("mc_control") is MCControlAgent
    assert agent_class("prediction") is PredictionAgent
    assert MCControlAgent.family == PredictionAgent.family == agent_class("tabular").family
