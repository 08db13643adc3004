"""The loop generator: final observations, truncation, episode statistics, evaluation quotas."""

from typing import Any

import numpy as np

from rlkit.agent import Agent
from rlkit.envs.factory import EnvConfig, make_vector_env
from rlkit.evaluation import evaluate
from rlkit.rollout import RolloutState, rollout


class Scripted(Agent[Any]):
    """Plays a fixed action in every env."""

    config_class = dict

    def __init__(self, action: int) -> None:
        self.action = action
        self.explore_flags: list[bool] = []

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        self.explore_flags.append(explore)
        return np.full(len(obs), self.action)


def test_final_obs_and_termination_on_gridworld() -> None:
    # Gridworld state 1 (top row, second cell) moving left (3) enters terminal 0 in one step.
    envs = make_vector_env(EnvConfig(id="rlkit/GridWorld-v0", num_envs=2))
    state = RolloutState.reset(envs, seed=0)
    envs.envs[0].unwrapped.s = 1
    envs.envs[1].unwrapped.s = 6
    state.obs = np.array([1, 6])
    transition, episodes = next(rollout(envs, Scripted(3), state, explore=True))
    assert transition.obs.tolist() == [1, 6]
    assert transition.next_obs.tolist() == [0, 5]  # env 0's true final obs, not its reset obs
    assert transition.terminated.tolist() == [True, False]
    assert transition.reward.tolist() == [-1.0, -1.0]
    assert transition.reward.dtype == np.float32
    assert [(e.env_index, e.episode_return, e.length, e.truncated) for e in episodes] == [
        (0, -1.0, 1, False)
    ]
    assert state.obs[0] != 0  # reset to a non-terminal start state
    assert state.returns.tolist() == [0.0, -1.0]
    assert state.lengths.tolist() == [0, 1]


def test_truncation_is_flagged_and_counted() -> None:
    # Moving up from the top row never ends the episode: the time limit of 3 truncates it.
    envs = make_vector_env(EnvConfig(id="rlkit/GridWorld-v0", max_episode_steps=3))
    state = RolloutState.reset(envs, seed=0)
    envs.envs[0].unwrapped.s = 2
    state.obs = np.array([2])
    steps = [next(g) for g in [rollout(envs, Scripted(0), state, explore=False)] for _ in range(3)]
    last, episodes = steps[-1]
    assert last.truncated.tolist() == [True]
    assert last.terminated.tolist() == [False]
    assert last.next_obs.tolist() == [2]
    assert [(e.episode_return, e.length, e.truncated) for e in episodes] == [(-3.0, 3, True)]


def test_evaluate_plays_exact_quotas_greedily() -> None:
    envs = make_vector_env(EnvConfig(id="rlkit/GridWorld-v0", num_envs=3, max_episode_steps=5))
    agent = Scripted(0)  # up: from the top-left terminal's row it may end, else it truncates
    result = evaluate(agent, envs, episodes=7, seed=1)
    assert result.episodes == 7
    assert set(agent.explore_flags) == {False}
    again = evaluate(Scripted(0), envs, episodes=7, seed=1)
    assert again == result
