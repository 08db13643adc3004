"""Dynamic programming: the book's gridworld numbers, a hand-solved MDP and FrozenLake."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from rlkit.agent import EnvSpec, agent_class
from rlkit.agents.dp import (
    DPAgent,
    DPConfig,
    Method,
    greedy,
    policy_evaluation,
    policy_iteration,
    q_from_v,
    value_iteration,
)
from rlkit.envs.gridworld import GridWorldEnv, next_state
from rlkit.errors import SpaceError
from rlkit.tabular_model import TabularModel

# Sutton & Barto figure 4.1: the equiprobable random policy's values, gamma = 1 (rounded)
BOOK_RANDOM_VALUES = [
    [0, -14, -20, -22],
    [-14, -18, -20, -20],
    [-20, -20, -18, -14],
    [-22, -20, -14, 0],
]
# v*: minus the number of steps to the nearest terminal corner
OPTIMAL_VALUES = [[0, -1, -2, -3], [-1, -2, -3, -2], [-2, -3, -2, -1], [-3, -2, -1, 0]]


@pytest.fixture(scope="module")
def gridworld() -> TabularModel:
    model = TabularModel.from_env(GridWorldEnv())
    assert model is not None
    return model


def two_state_model() -> TabularModel:
    """A = 0, B = 1; action 0 'stay', 1 'go'.

    A-stay: reward 1, back to A.   A-go: reward 0, to B.
    B-stay: reward 2, back to B.   B-go: reward 5, episode ends.
    """
    transitions = np.zeros((2, 2, 2))
    transitions[0, 0, 0] = 1.0
    transitions[0, 1, 1] = 1.0
    transitions[1, 0, 1] = 1.0  # B-go terminates: no mass
    rewards = np.array([[1.0, 0.0], [2.0, 5.0]])
    return TabularModel(transitions, rewards, np.array([1.0, 0.0]))


def test_random_policy_evaluation_matches_the_book(gridworld: TabularModel) -> None:
    random_policy = np.full((16, 4), 0.25)
    v = policy_evaluation(gridworld, random_policy, gamma=1.0).reshape(4, 4)
    # the converged values are -14, -18, -20, -22 exactly (linear system with integer solution)
    np.testing.assert_allclose(v, BOOK_RANDOM_VALUES, atol=0.01)
    assert (v.round() == BOOK_RANDOM_VALUES).all()


def test_value_iteration_finds_steps_to_the_nearest_corner(gridworld: TabularModel) -> None:
    result = value_iteration(gridworld, gamma=1.0)
    np.testing.assert_allclose(result.values.reshape(4, 4), OPTIMAL_VALUES)
    # sweeps 1-3 reach distances 1-3; sweep 4 changes nothing and stops
    assert result.iterations == 4
    np.testing.assert_allclose(policy_evaluation(gridworld, result.policy, 1.0), result.values)


def test_policy_iteration_agrees_with_value_iteration(gridworld: TabularModel) -> None:
    result = policy_iteration(gridworld, gamma=1.0, theta=1e-10)
    np.testing.assert_allclose(result.values.reshape(4, 4), OPTIMAL_VALUES, atol=1e-9)
    assert set(result.policy.sum(axis=1)) == {1.0}
    assert set(result.policy.ravel()) == {0.0, 1.0}
    np.testing.assert_allclose(policy_evaluation(gridworld, result.policy, 1.0), result.values)


def test_value_iteration_by_hand_on_two_states() -> None:
    model = two_state_model()
    # gamma 0.5, from v = (0, 0):
    # sweep 1: q_A = (1, 0), q_B = (2, 5) -> v = (1, 5)
    # sweep 2: q_A = (1 + 0.5*1, 0 + 0.5*5) = (1.5, 2.5), q_B = (2 + 2.5, 5) -> v = (2.5, 5)
    # sweep 3: q_A = (1 + 1.25, 2.5), q_B = (4.5, 5) -> v unchanged, stop
    result = value_iteration(model, gamma=0.5)
    np.testing.assert_allclose(result.values, [2.5, 5.0])
    assert result.iterations == 3
    np.testing.assert_array_equal(result.policy, [[0, 1], [0, 1]])  # go, go
    np.testing.assert_allclose(q_from_v(model, result.values, 0.5), [[2.25, 2.5], [4.5, 5.0]])
    assert policy_iteration(model, gamma=0.5).values == pytest.approx([2.5, 5.0])


def test_finite_horizon_by_hand_on_two_states() -> None:
    model = two_state_model()
    one = value_iteration(model, gamma=0.5, horizon=1)
    np.testing.assert_allclose(one.values, [1.0, 5.0])  # the best immediate rewards
    np.testing.assert_array_equal(one.policy, [[1, 0], [0, 1]])  # stay in A with 1 step left
    two = value_iteration(model, gamma=0.5, horizon=2)
    np.testing.assert_allclose(two.values, [2.5, 5.0])
    np.testing.assert_array_equal(two.policy, [[0, 1], [0, 1]])
    stay = np.array([[1.0, 0.0], [1.0, 0.0]])
    # always stay: v_A = 1 / (1 - 0.5) = 2, v_B = 2 / (1 - 0.5) = 4; two steps: 1.5 and 3
    np.testing.assert_allclose(policy_evaluation(model, stay, 0.5), [2.0, 4.0])
    np.testing.assert_allclose(policy_evaluation(model, stay, 0.5, horizon=2), [1.5, 3.0])
    np.testing.assert_allclose(policy_evaluation(model, stay, 0.5, horizon=0), [0.0, 0.0])


def test_horizon_one_is_the_best_immediate_reward() -> None:
    model = TabularModel.from_env(gym.make("FrozenLake-v1"))
    assert model is not None
    result = value_iteration(model, gamma=1.0, horizon=1)
    np.testing.assert_allclose(result.values, model.rewards.max(axis=1))
    assert result.values[14] == pytest.approx(1 / 3)  # a slip to the right reaches the goal


def test_frozen_lake_optimum() -> None:
    model = TabularModel.from_env(gym.make("FrozenLake-v1", is_slippery=True))
    assert model is not None
    result = value_iteration(model, gamma=1.0, horizon=100)
    success = float(result.values[0])
    assert 0.70 <= success <= 0.80, (  # known to be about 0.74
        f"FrozenLake-v1 4x4 slippery: optimal 100-step success from state 0 = {success:.4f}"
    )
    # the greedy first-step policy, played for all 100 steps, is nearly as good
    stationary = policy_evaluation(model, result.policy, gamma=1.0, horizon=100)
    assert stationary[0] == pytest.approx(success, abs=0.01)


def test_greedy_breaks_ties_by_lowest_index_despite_float_noise() -> None:
    q = np.array([[1.0, 1.0], [0.0, 1e-14], [0.0, 1e-6], [3.0, 1.0]])
    np.testing.assert_array_equal(greedy(q), [[1, 0], [1, 0], [0, 1], [1, 0]])


def test_improper_policy_with_gamma_one_raises(gridworld: TabularModel) -> None:
    always_up = np.zeros((16, 4))
    always_up[:, 0] = 1.0  # states 1-3 bump into the top wall forever
    with pytest.raises(ValueError, match="improper policy"):
        policy_evaluation(gridworld, always_up, gamma=1.0, max_iterations=500)
    # discounting or a horizon gives it a value: state 1 pays -1 forever
    v = policy_evaluation(gridworld, always_up, gamma=0.5)
    assert v[1] == pytest.approx(-2.0)  # -1 / (1 - 0.5)
    assert policy_evaluation(gridworld, always_up, 1.0, horizon=7)[1] == -7.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"gamma": 1.5}, "gamma"), ({"gamma": 1.0, "theta": 0.0}, "theta")],
)
def test_dp_functions_check_their_arguments(
    gridworld: TabularModel, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        value_iteration(gridworld, **kwargs)
    with pytest.raises(ValueError, match="horizon"):
        value_iteration(gridworld, 1.0, horizon=0)
    with pytest.raises(ValueError, match="policy"):
        policy_evaluation(gridworld, np.ones((3, 4)), 1.0)


def gridworld_spec(model: TabularModel | None, env_id: str = "rlkit/GridWorld-v0") -> EnvSpec:
    env = GridWorldEnv()
    return EnvSpec(env_id, env.observation_space, env.action_space, 2, model)


def test_dp_agent_needs_a_model() -> None:
    spec = gridworld_spec(None, env_id="CartPole-v1")
    with pytest.raises(SpaceError, match=r"known transition table.*CartPole-v1 has none"):
        DPAgent.check_spaces(spec)
    with pytest.raises(SpaceError, match="FrozenLake-v1"):
        DPAgent(DPConfig(), spec, seed=0)
    box = EnvSpec("Pendulum-v1", gym.spaces.Box(-1.0, 1.0, (3,)), gym.spaces.Discrete(2), 1)
    with pytest.raises(SpaceError, match="known transition table.*Pendulum-v1 has none"):
        DPAgent.check_spaces(box)


@pytest.mark.parametrize("method", ["value_iteration", "policy_iteration"])
def test_dp_agent_plays_optimally_on_the_gridworld(gridworld: TabularModel, method: Method) -> None:
    config = DPConfig(method=method, gamma=1.0)
    agent = DPAgent(config, gridworld_spec(gridworld), seed=0)
    states = np.arange(16)
    actions = agent.act(states, explore=True)
    np.testing.assert_array_equal(actions, agent.act(states, explore=False))
    distance = -np.array(OPTIMAL_VALUES).ravel()
    for s in range(1, 15):  # every move gets one step closer to a corner
        assert distance[next_state(s, int(actions[s]))] == distance[s] - 1
    metrics = agent.update()
    # 14 non-terminal starts, distances summing to 28: expected value -28 / 14 = -2
    assert metrics["dp/value_initial"] == pytest.approx(-2.0)
    assert metrics["dp/iterations"] >= 1
    assert agent.update() == {}


def test_dp_agent_state_dict_round_trip(gridworld: TabularModel) -> None:
    agent = DPAgent(DPConfig(gamma=1.0), gridworld_spec(gridworld), seed=0)
    agent.update()
    other = DPAgent(DPConfig(gamma=0.5, horizon=1), gridworld_spec(gridworld), seed=1)
    other.load_state_dict(agent.state_dict())
    np.testing.assert_array_equal(other.act(np.arange(16), False), agent.act(np.arange(16), False))
    assert other.update() == {}
    assert other.rng.bit_generator.state == agent.rng.bit_generator.state


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"gamma": -0.1}, "gamma"),
        ({"theta": 0.0}, "theta"),
        ({"horizon": 0}, "horizon"),
        ({"method": "policy_iteration", "horizon": 5}, "horizon"),
    ],
)
def test_dp_config_rejects_bad_values(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DPConfig(**changes)


def test_dp_agent_is_registered() -> None:
    assert agent_class("dp") is DPAgent
