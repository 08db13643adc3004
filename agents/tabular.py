"""Tabular TD control: Q-learning, Sarsa, Expected Sarsa and double Q-learning in one agent.

The rules differ only in the bootstrap value of s_t, so each rule is a small pure function in
`BOOTSTRAPS`; everything else (epsilon-greedy acting, the TD step, checkpoints) is shared.
The family's episode methods (Monte Carlo control, MC and TD(0) prediction) keep whole episodes
or state values instead, so they are the sibling modules montecarlo.py and prediction.py, which
act with this module's `epsilon_greedy_actions` and `epsilon_greedy_probs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

from rlkit.agent import (
    TABULAR,
    Agent,
    EnvSpec,
    Transition,
    discrete_sizes,
    register_agent,
    require_discrete,
)
from rlkit.errors import CheckpointError
from rlkit.schedules import ScheduleConfig, build_schedule

Rule = Literal["q_learning", "sarsa", "expected_sarsa", "double_q"]
NO_PLAN = -1


def _default_epsilon() -> ScheduleConfig:
    return ScheduleConfig(kind="linear", start=1.0, end=0.05, steps=10_000)


@dataclass
class TabularConfig:
    """Tabular TD control: which update rule, its step size, discount and exploration."""

    rule: Rule = "q_learning"
    """TD rule: q_learning, sarsa (on-policy), expected_sarsa or double_q (two tables)."""
    learning_rate: float = 0.1
    """Step size alpha of the TD update, in (0, 1]."""
    gamma: float = 0.99
    """Discount factor, in [0, 1]."""
    epsilon: ScheduleConfig = field(default_factory=_default_epsilon)
    """Exploration rate of the epsilon-greedy policy, a schedule of env steps observed."""
    initial_q: float = 0.0
    """Initial value of every table entry (optimistic values encourage exploration)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate: {self.learning_rate!r} is not in (0, 1]")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma: {self.gamma!r} is not in [0, 1]")
        values = [self.epsilon.start, self.epsilon.end, *(p[1] for p in self.epsilon.points)]
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"epsilon: values {values} must all be probabilities in [0, 1]")


class BootstrapInputs(NamedTuple):
    """What a rule may look at to value s_t; rows are transitions of one batch."""

    select: np.ndarray
    """(n, A) action values of s_t in the table that selects (the one being updated)."""
    evaluate: np.ndarray
    """(n, A) action values of s_t in the table that evaluates (the other one for double_q)."""
    next_action: np.ndarray
    """(n,) the action a_t the epsilon-greedy policy chose in s_t (used by sarsa)."""
    epsilon: float
    """Exploration rate of the current policy."""


def q_learning_bootstrap(x: BootstrapInputs) -> np.ndarray:
    """max_a q(s_t, a)."""
    return np.asarray(x.evaluate.max(axis=1))


def sarsa_bootstrap(x: BootstrapInputs) -> np.ndarray:
    """q(s_t, a_t) for the action the policy actually chose in s_t."""
    return np.asarray(x.evaluate[np.arange(len(x.evaluate)), x.next_action])


def expected_sarsa_bootstrap(x: BootstrapInputs) -> np.ndarray:
    """sum_a pi(a|s_t) q(s_t, a) under epsilon-greedy, greedy mass split over tied maxima."""
    probs = epsilon_greedy_probs(x.select, x.epsilon)
    return np.asarray((probs * x.evaluate).sum(axis=1))


def double_q_bootstrap(x: BootstrapInputs) -> np.ndarray:
    """q_j(s_t, argmax_a q_i(s_t, a)), i the updated table (lowest index on ties)."""
    best = x.select.argmax(axis=1)
    return np.asarray(x.evaluate[np.arange(len(x.evaluate)), best])


BOOTSTRAPS: dict[str, Callable[[BootstrapInputs], np.ndarray]] = {
    "q_learning": q_learning_bootstrap,
    "sarsa": sarsa_bootstrap,
    "expected_sarsa": expected_sarsa_bootstrap,
    "double_q": double_q_bootstrap,
}


def epsilon_greedy_probs(q: np.ndarray, epsilon: float) -> np.ndarray:
    """(n, A) action probabilities: epsilon uniform, 1 - epsilon split over the tied maxima."""
    is_max = q == q.max(axis=1, keepdims=True)
    greedy_mass = is_max / is_max.sum(axis=1, keepdims=True)
    return np.asarray(epsilon / q.shape[1] + (1.0 - epsilon) * greedy_mass)


def epsilon_greedy_actions(q: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """(n,) actions drawn from epsilon_greedy_probs(q, epsilon): uniform with probability
    epsilon, else a greedy action of each row of q, ties broken at random."""
    noise = rng.random(q.shape)
    greedy = np.where(q == q.max(axis=1, keepdims=True), noise, -1.0).argmax(axis=1)
    explore = rng.random(len(q)) < epsilon
    random_actions = rng.integers(0, q.shape[1], size=len(q))
    return np.asarray(np.where(explore, random_actions, greedy), dtype=np.int64)


@register_agent("tabular")
class TabularAgent(Agent[TabularConfig]):
    """Epsilon-greedy tabular TD control on Discrete observations and actions.

    Transitions of one vector step that hit the same (table, s, a) are averaged: that entry
    moves one step of size alpha towards the mean of their targets, so duplicates never
    multiply the step size. Targets are computed from the tables before the step.
    """

    family = TABULAR

    config_class = TabularConfig

    def __init__(self, config: TabularConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.check_spaces(spec)
        num_states, num_actions = discrete_sizes(spec)
        num_tables = 2 if config.rule == "double_q" else 1
        self.tables = np.full((num_tables, num_states, num_actions), config.initial_q)
        self.epsilon = build_schedule(config.epsilon)
        self.bootstrap = BOOTSTRAPS[config.rule]
        self.steps = 0
        self.planned_actions = np.full(spec.num_envs, NO_PLAN, dtype=np.int64)
        self.planned_states = np.full(spec.num_envs, NO_PLAN, dtype=np.int64)
        self.pending: list[Transition] = []

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        """Tables need Discrete observations and Discrete actions."""
        require_discrete(spec, "tabular", observations=True, actions=True)

    @property
    def num_actions(self) -> int:
        """Number of actions A."""
        return int(self.tables.shape[2])

    def greedy_policy(self) -> np.ndarray:
        """(S,) greedy action of every state under the summed tables, lowest index on ties."""
        return np.asarray(self.tables.sum(axis=0).argmax(axis=1), dtype=np.int64)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Epsilon-greedy actions (or Sarsa's planned ones) when exploring, else greedy."""
        states = np.asarray(obs, dtype=np.int64).reshape(-1)
        if not explore:
            return np.asarray(self.tables.sum(axis=0)[states].argmax(axis=1), dtype=np.int64)
        actions = self._epsilon_greedy(states, self.epsilon(self.steps))
        if len(self.planned_actions) == len(states):
            planned = (self.planned_actions != NO_PLAN) & (self.planned_states == states)
            actions = np.where(planned, self.planned_actions, actions)
            self.planned_actions[:] = NO_PLAN
        return actions

    def observe(self, transition: Transition) -> None:
        """Store (a copy of) the batch for the next update and count its env steps."""
        self.pending.append(Transition(*(np.array(field) for field in transition)))
        self.steps += len(np.asarray(transition.obs).reshape(-1))

    def update(self) -> dict[str, float]:
        """Apply the TD update to every stored batch; metrics are epsilon and mean |TD error|."""
        if not self.pending:
            return {}
        errors = [self._learn(batch) for batch in self.pending]
        self.pending = []
        return {
            "epsilon": float(self.epsilon(self.steps)),
            "td_error": float(np.mean(np.concatenate(errors))),
        }

    def _learn(self, batch: Transition) -> np.ndarray:
        """One TD step on one vector step; returns |TD error| per transition."""
        s_tm1 = np.asarray(batch.obs, dtype=np.int64).reshape(-1)
        a_tm1 = np.asarray(batch.action, dtype=np.int64).reshape(-1)
        r_t = np.asarray(batch.reward, dtype=np.float64).reshape(-1)
        s_t = np.asarray(batch.next_obs, dtype=np.int64).reshape(-1)
        terminated = np.asarray(batch.terminated, dtype=bool).reshape(-1)
        done = terminated | np.asarray(batch.truncated, dtype=bool).reshape(-1)
        epsilon = self.epsilon(self.steps)
        updated, other = self._pick_tables(len(s_tm1))
        next_action = self._plan(s_t, done, epsilon)
        inputs = BootstrapInputs(
            self.tables[updated, s_t], self.tables[other, s_t], next_action, epsilon
        )
        target = r_t + np.where(terminated, 0.0, self.config.gamma * self.bootstrap(inputs))
        td_error = target - self.tables[updated, s_tm1, a_tm1]
        self._step_towards(updated, s_tm1, a_tm1, td_error)
        return np.asarray(np.abs(td_error))

    def _pick_tables(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(updated, other) table index per transition: a fair coin for double_q, else 0."""
        if len(self.tables) == 1:
            zeros = np.zeros(n, dtype=np.int64)
            return zeros, zeros
        updated = self.rng.integers(0, 2, size=n)
        return updated, 1 - updated

    def _plan(self, s_t: np.ndarray, done: np.ndarray, epsilon: float) -> np.ndarray:
        """Sarsa only: choose a_t in s_t now and keep it for the next act where not done."""
        if self.config.rule != "sarsa":
            return np.zeros(len(s_t), dtype=np.int64)
        next_action = self._epsilon_greedy(s_t, epsilon)
        if len(self.planned_actions) == len(s_t):
            self.planned_actions = np.where(done, NO_PLAN, next_action)
            self.planned_states = np.where(done, NO_PLAN, s_t)
        return next_action

    def _step_towards(
        self, table: np.ndarray, s: np.ndarray, a: np.ndarray, td_error: np.ndarray
    ) -> None:
        """Move each hit entry by alpha times the mean TD error of the transitions hitting it."""
        flat = np.ravel_multi_index((table, s, a), self.tables.shape)
        sums = np.bincount(flat, weights=td_error, minlength=self.tables.size)
        counts = np.bincount(flat, minlength=self.tables.size)
        step = self.config.learning_rate * sums / np.maximum(counts, 1)
        self.tables += step.reshape(self.tables.shape)

    def _epsilon_greedy(self, states: np.ndarray, epsilon: float) -> np.ndarray:
        """Epsilon-greedy actions on the summed tables, ties broken at random."""
        return epsilon_greedy_actions(self.tables.sum(axis=0)[states], epsilon, self.rng)

    def state_dict(self) -> dict[str, Any]:
        """Tables, step counter, Sarsa's planned actions, unprocessed batches and the RNG."""
        return {
            **super().state_dict(),
            "tables": self.tables.copy(),
            "steps": self.steps,
            "planned_actions": self.planned_actions.copy(),
            "planned_states": self.planned_states.copy(),
            "pending": [batch._asdict() for batch in self.pending],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned; the tables must have this agent's shape."""
        tables = np.asarray(state["tables"], dtype=np.float64)
        if tables.shape != self.tables.shape:
            raise CheckpointError(
                f"tabular checkpoint has tables of shape {tables.shape}, "
                f"this agent needs {self.tables.shape} (same env and rule?)"
            )
        super().load_state_dict(state)
        self.tables = tables.copy()
        self.steps = int(state["steps"])
        self.planned_actions = np.asarray(state["planned_actions"], dtype=np.int64).copy()
        self.planned_states = np.asarray(state["planned_states"], dtype=np.int64).copy()
        self.pending = [Transition(**batch) for batch in state["pending"]]
