"""Unit tests of the tabular TD agent, with hand-computed updates."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from helpers import batch

from rlkit.agent import EnvSpec, Transition, agent_class
from rlkit.agents.dp import policy_evaluation, value_iteration
from rlkit.agents.tabular import (
    NO_PLAN,
    Rule,
    TabularAgent,
    TabularConfig,
    epsilon_greedy_probs,
)
from rlkit.envs.gridworld import GridWorldEnv
from rlkit.errors import CheckpointError, ConfigError, SpaceError
from rlkit.schedules import ScheduleConfig
from rlkit.tabular_model import TabularModel

RULES: list[Rule] = ["q_learning", "sarsa", "expected_sarsa", "double_q"]


def make_agent(
    rule: Rule = "q_learning",
    epsilon: float = 0.0,
    num_envs: int = 1,
    seed: int = 0,
    num_states: int = 3,
    num_actions: int = 2,
) -> TabularAgent:
    """An agent with alpha 0.1, gamma 0.9 and a constant epsilon on a tiny made-up MDP."""
    config = TabularConfig(
        rule=rule,
        learning_rate=0.1,
        gamma=0.9,
        epsilon=ScheduleConfig(kind="constant", start=epsilon),
    )
    spec = EnvSpec(
        "test/Tiny-v0", gym.spaces.Discrete(num_states), gym.spaces.Discrete(num_actions), num_envs
    )
    return TabularAgent(config, spec, seed)


def with_tables(agent: TabularAgent) -> TabularAgent:
    """q(0, 0) = 0.5 and q(1, .) = [0.2, 0.8] in table 0 (table 1 of double_q: see its test)."""
    agent.tables[0, 0, 0] = 0.5
    agent.tables[0, 1] = [0.2, 0.8]
    return agent


def test_q_learning_update_is_hand_computed() -> None:
    agent = with_tables(make_agent("q_learning"))
    agent.observe(batch([0], [0], [1.0], [1]))
    metrics = agent.update()
    # target = 1 + 0.9 * max(0.2, 0.8) = 1.72; q = 0.5 + 0.1 * (1.72 - 0.5) = 0.622
    assert agent.tables[0, 0, 0] == pytest.approx(0.622)
    assert metrics == {"epsilon": 0.0, "td_error": pytest.approx(1.22)}
    expected = np.zeros((1, 3, 2))
    expected[0, 0, 0], expected[0, 1] = 0.622, [0.2, 0.8]
    np.testing.assert_allclose(agent.tables, expected)  # nothing else moved


@pytest.mark.parametrize("rule", RULES)
def test_terminated_uses_reward_only(rule: Rule) -> None:
    agent = with_tables(make_agent(rule))
    agent.tables[-1, 0, 0] = 0.5  # double_q: whichever table is updated holds 0.5
    agent.observe(batch([0], [0], [1.0], [1], terminated=[True]))
    agent.update()
    # target = r = 1; q = 0.5 + 0.1 * (1 - 0.5) = 0.55 in the updated table
    assert 0.55 in agent.tables[:, 0, 0].round(12)


def test_truncated_bootstraps() -> None:
    agent = with_tables(make_agent("q_learning"))
    agent.observe(batch([0], [0], [1.0], [1], truncated=[True]))
    agent.update()
    # truncation is not termination: same target as a plain step, 1 + 0.9 * 0.8
    assert agent.tables[0, 0, 0] == pytest.approx(0.622)


def test_expected_sarsa_uses_the_policy_expectation() -> None:
    agent = with_tables(make_agent("expected_sarsa", epsilon=0.2))
    agent.observe(batch([0], [0], [1.0], [1]))
    assert agent.update()["epsilon"] == pytest.approx(0.2)
    # pi(.|1) = [0.2/2, 0.2/2 + 0.8] = [0.1, 0.9]; E q = 0.1*0.2 + 0.9*0.8 = 0.74
    # target = 1 + 0.9 * 0.74 = 1.666; q = 0.5 + 0.1 * (1.666 - 0.5) = 0.6166
    assert agent.tables[0, 0, 0] == pytest.approx(0.6166)


def test_expected_sarsa_splits_greedy_mass_over_ties() -> None:
    q = np.array([[0.4, 0.4, 0.1]])
    # epsilon 0.3: 0.1 each uniformly, the greedy 0.7 split over the two maxima
    np.testing.assert_allclose(epsilon_greedy_probs(q, 0.3), [[0.45, 0.45, 0.1]])


def test_sarsa_plans_the_next_action_and_bootstraps_from_it() -> None:
    seen = set()
    for seed in range(20):
        agent = with_tables(make_agent("sarsa", epsilon=1.0, seed=seed))
        agent.observe(batch([0], [0], [1.0], [1]))
        agent.update()
        plan = int(agent.planned_actions[0])
        seen.add(plan)
        # target = 1 + 0.9 * q(1, plan): 1.18 (plan 0) or 1.72 (plan 1)
        q_next = [0.2, 0.8][plan]
        assert agent.tables[0, 0, 0] == pytest.approx(0.5 + 0.1 * (1 + 0.9 * q_next - 0.5))
        assert agent.act(np.array([1]), explore=False)[0] == 1  # greedy ignores the plan
        assert agent.act(np.array([1]), explore=True)[0] == plan  # and keeps it for this call
        assert agent.planned_actions[0] == NO_PLAN  # a plan is used once
    assert seen == {0, 1}  # the target followed the chosen action, not the max


def test_sarsa_has_no_plan_after_episode_end() -> None:
    agent = make_agent("sarsa", num_envs=3)
    ended = batch([0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 2], [True, False, False])
    agent.observe(ended._replace(truncated=np.array([False, True, False])))
    agent.update()
    # env 0 terminated and env 1 was truncated: their next obs is a reset, no plan
    assert agent.planned_actions.tolist()[:2] == [NO_PLAN, NO_PLAN]
    assert agent.planned_actions[2] != NO_PLAN
    assert agent.planned_states.tolist()[2] == 2


def test_sarsa_plan_is_ignored_for_a_different_observation() -> None:
    agent = make_agent("sarsa", epsilon=0.0)
    agent.tables[0, 1] = [1.0, 0.0]
    agent.tables[0, 2] = [0.0, 1.0]
    agent.observe(batch([0], [0], [0.0], [1]))
    agent.update()
    assert agent.planned_actions[0] == 0
    assert agent.act(np.array([2]), explore=True)[0] == 1  # fresh greedy choice in state 2


def test_double_q_updates_one_table_towards_the_other() -> None:
    seen = set()
    for seed in range(20):
        agent = make_agent("double_q", seed=seed)
        agent.tables[0, 0, 0], agent.tables[1, 0, 0] = 0.5, 0.4
        agent.tables[0, 1], agent.tables[1, 1] = [0.2, 0.8], [0.6, 0.3]
        before = agent.tables.copy()
        agent.observe(batch([0], [0], [1.0], [1]))
        agent.update()
        changed = np.argwhere(agent.tables != before)
        assert len(changed) == 1
        table = int(changed[0, 0])
        seen.add(table)
        if table == 0:  # argmax q1(1) = 1; target = 1 + 0.9 * q2(1, 1) = 1.27
            assert agent.tables[0, 0, 0] == pytest.approx(0.5 + 0.1 * (1.27 - 0.5))  # 0.577
        else:  # argmax q2(1) = 0; target = 1 + 0.9 * q1(1, 0) = 1.18
            assert agent.tables[1, 0, 0] == pytest.approx(0.4 + 0.1 * (1.18 - 0.4))  # 0.478
    assert seen == {0, 1}


def test_double_q_acts_on_the_summed_tables() -> None:
    agent = make_agent("double_q")
    agent.tables[0, 0], agent.tables[1, 0] = [1.0, 0.0], [0.0, 2.0]
    assert agent.act(np.array([0]), explore=False)[0] == 1
    assert agent.greedy_policy()[0] == 1


def test_duplicate_entries_in_one_batch_average_their_targets() -> None:
    agent = make_agent("q_learning", num_envs=3)
    agent.tables[0, 0, 0] = 0.5
    agent.observe(batch([0, 0, 2], [0, 0, 1], [1.0, 2.0, 3.0], [1, 1, 1], [True] * 3))
    metrics = agent.update()
    # mean target of (0, 0) is (1 + 2) / 2 = 1.5: q = 0.5 + 0.1 * (1.5 - 0.5) = 0.6
    assert agent.tables[0, 0, 0] == pytest.approx(0.6)
    assert agent.tables[0, 2, 1] == pytest.approx(0.3)  # 0 + 0.1 * 3
    assert metrics["td_error"] == pytest.approx((0.5 + 1.5 + 3.0) / 3)


def test_steps_count_env_transitions_for_the_schedule() -> None:
    config = TabularConfig(epsilon=ScheduleConfig(kind="linear", start=1.0, end=0.0, steps=8))
    spec = EnvSpec("test/Tiny-v0", gym.spaces.Discrete(3), gym.spaces.Discrete(2), 4)
    agent = TabularAgent(config, spec, seed=0)
    assert agent.update() == {}
    agent.observe(batch([0] * 4, [0] * 4, [0.0] * 4, [1] * 4))
    assert agent.steps == 4
    assert agent.update()["epsilon"] == pytest.approx(0.5)  # 4 of 8 steps from 1.0 to 0.0
    assert agent.update() == {}


def test_ties_are_broken_at_random_when_exploring_and_low_when_greedy() -> None:
    agent = make_agent(epsilon=0.0, num_actions=4)
    explored = {int(agent.act(np.array([0]), explore=True)[0]) for _ in range(50)}
    assert len(explored) > 1
    rng_state = agent.rng.bit_generator.state
    greedy = agent.act(np.zeros(50, dtype=np.int64), explore=False)
    assert set(greedy.tolist()) == {0}
    assert agent.rng.bit_generator.state == rng_state  # evaluation consumes no randomness
    assert agent.greedy_policy().tolist() == [0, 0, 0]


def test_initial_q_fills_the_tables() -> None:
    config = TabularConfig(rule="double_q", initial_q=2.5)
    spec = EnvSpec("test/Tiny-v0", gym.spaces.Discrete(3), gym.spaces.Discrete(2), 1)
    agent = TabularAgent(config, spec, seed=0)
    assert agent.tables.shape == (2, 3, 2)
    assert (agent.tables == 2.5).all()


def random_batches(count: int, num_envs: int, seed: int) -> list[Transition]:
    """Made-up vector steps on 3 states and 2 actions that chain like episodes, with ends."""
    rng = np.random.default_rng(seed)
    obs = rng.integers(0, 3, num_envs)
    batches = []
    for _ in range(count):
        step = Transition(
            obs=obs,
            action=rng.integers(0, 2, num_envs),
            reward=rng.normal(size=num_envs).astype(np.float32),
            next_obs=rng.integers(0, 3, num_envs),
            terminated=rng.random(num_envs) < 0.2,
            truncated=rng.random(num_envs) < 0.1,
        )
        batches.append(step)
        done = step.terminated | step.truncated
        obs = np.where(done, rng.integers(0, 3, num_envs), step.next_obs)
    return batches


def run(agent: TabularAgent, batches: list[Transition]) -> list[np.ndarray]:
    """Act, observe and update on each batch; return the actions taken."""
    actions = []
    for step in batches:
        actions.append(agent.act(step.obs, explore=True))
        agent.observe(step)
        agent.update()
    return actions


@pytest.mark.parametrize("rule", RULES)
def test_state_dict_round_trip_resumes_exactly(rule: Rule) -> None:
    batches = random_batches(40, num_envs=2, seed=1)
    reference = make_agent(rule, epsilon=0.3, num_envs=2, seed=7)
    first = make_agent(rule, epsilon=0.3, num_envs=2, seed=7)
    run(reference, batches[:20])
    run(first, batches[:20])
    resumed = make_agent(rule, epsilon=0.3, num_envs=2, seed=99)  # the RNG comes from the state
    resumed.load_state_dict(first.state_dict())
    del first
    expected_actions = run(reference, batches[20:])
    actions = run(resumed, batches[20:])
    np.testing.assert_array_equal(np.stack(actions), np.stack(expected_actions))
    np.testing.assert_array_equal(resumed.tables, reference.tables)
    assert resumed.steps == reference.steps == 80


def test_load_state_dict_rejects_other_shapes() -> None:
    state = make_agent("double_q").state_dict()
    with pytest.raises(CheckpointError, match="shape"):
        make_agent("q_learning").load_state_dict(state)


@pytest.mark.parametrize(
    ("obs_space", "act_space"),
    [
        (gym.spaces.Box(-1.0, 1.0, (4,)), gym.spaces.Discrete(2)),
        (gym.spaces.Discrete(4), gym.spaces.Box(-1.0, 1.0, (1,))),
    ],
)
def test_check_spaces_rejects_non_discrete_spaces(
    obs_space: gym.Space[np.ndarray], act_space: gym.Space[np.ndarray]
) -> None:
    spec = EnvSpec("CartPole-v1", obs_space, act_space, 1)
    with pytest.raises(SpaceError, match="tabular"):
        TabularAgent.check_spaces(spec)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"gamma": 1.5}, "gamma"),
        ({"epsilon": ScheduleConfig(start=1.5)}, "epsilon"),
    ],
)
def test_config_rejects_out_of_range_values(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TabularConfig(**changes)


def test_registered_and_config_loads_from_a_table() -> None:
    from rlkit.config import from_dict

    assert agent_class("tabular") is TabularAgent
    config = from_dict(TabularConfig, {"rule": "sarsa", "epsilon": {"kind": "constant"}}, "agent")
    assert config.rule == "sarsa"
    with pytest.raises(ConfigError, match="double_q"):
        from_dict(TabularConfig, {"rule": "double-q"}, "agent")


@pytest.mark.parametrize("rule", ["q_learning", "double_q"])
def test_learns_an_optimal_gridworld_policy(rule: Rule) -> None:
    env = GridWorldEnv()
    model = TabularModel.from_env(env)
    assert model is not None
    config = TabularConfig(
        rule=rule,
        learning_rate=0.5,
        gamma=1.0,
        epsilon=ScheduleConfig(kind="linear", start=1.0, end=0.0, steps=2_000),
    )
    spec = EnvSpec("rlkit/GridWorld-v0", env.observation_space, env.action_space, 1)
    agent = TabularAgent(config, spec, seed=0)
    obs, _ = env.reset(seed=0)
    for _ in range(3_000):
        action = int(agent.act(np.array([obs]), explore=True)[0])
        next_obs, reward, terminated, truncated, _ = env.step(action)
        agent.observe(batch([obs], [action], [float(reward)], [next_obs], [terminated]))
        agent.update()
        obs = env.reset()[0] if terminated or truncated else next_obs
    policy = np.eye(4)[agent.greedy_policy()]
    optimal = value_iteration(model, 1.0).values
    np.testing.assert_allclose(policy_evaluation(model, policy, 1.0), optimal)
