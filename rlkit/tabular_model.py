"""A known MDP model as dense arrays, read from the transition tables of toy-text envs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class TabularModel:
    """Dense model of a finite MDP.

    `transitions[s, a, s2]` is the probability of moving to s2 *and continuing*; probability
    mass of transitions that terminate is left out, so Bellman backups need no terminal flags:
    q = rewards + gamma * transitions @ v.
    """

    transitions: np.ndarray
    """(S, A, S) probabilities of non-terminating moves."""
    rewards: np.ndarray
    """(S, A) expected immediate reward."""
    initial: np.ndarray
    """(S,) distribution of the first state."""

    @property
    def num_states(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.rewards.shape[1])

    @classmethod
    def from_table(
        cls, table: dict[int, dict[int, list[tuple[Any, ...]]]], initial: np.ndarray
    ) -> TabularModel:
        """Build from a Gymnasium toy-text table P[s][a] = [(prob, s2, reward, terminated)]."""
        num_states = len(table)
        num_actions = len(table[0])
        transitions = np.zeros((num_states, num_actions, num_states))
        rewards = np.zeros((num_states, num_actions))
        for s, row in table.items():
            for a, outcomes in row.items():
                for prob, s2, reward, terminated in outcomes:
                    rewards[s, a] += prob * reward
                    if not terminated:
                        transitions[s, a, s2] += prob
        return cls(transitions, rewards, np.asarray(initial, dtype=np.float64))

    @classmethod
    def from_env(cls, env: gym.Env[Any, Any]) -> TabularModel | None:
        """The model of `env` if its unwrapped env exposes a toy-text table `P`, else None."""
        base = env.unwrapped
        table = getattr(base, "P", None)
        if not isinstance(table, dict) or not isinstance(
            base.observation_space, gym.spaces.Discrete
        ):
            return None
        initial = getattr(base, "initial_state_distrib", None)
        if initial is None:
            initial = np.full(len(table), 1.0 / len(table))
        return cls.from_table(table, initial)
