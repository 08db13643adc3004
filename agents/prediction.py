"""Prediction: the state values of a given policy by Monte Carlo or TD(0) (book 5.1 and 6.1).

The policy is named in the experiment file (`policy = "random"`, or "package.module:function"
for a function (num_states, num_actions) -> (S, A) action probabilities, such as
`rlkit.envs.blackjack:stick_on_20_or_21`), and the agent follows it when training and when
evaluated, so the run's evaluations measure that policy. The values are `agent.values` and the
checkpoint's "values" entry. Episode buffers, returns and step sizes are
`rlkit.agents.montecarlo`'s.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
from rlkit.agents.montecarlo import (
    Episode,
    EpisodeBuffers,
    Estimates,
    Method,
    Visit,
    check_common,
    episode_state,
    mc_targets,
    td0_targets,
)
from rlkit.errors import SpaceError

RANDOM = "random"


def policy_function(name: str) -> Callable[[int, int], Any]:
    """The function (num_states, num_actions) -> (S, A) probabilities that `name`,
    "package.module:function", refers to."""
    module, _, function = name.partition(":")
    try:
        found = getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"policy: cannot load {name!r} ({exc})") from None
    if not callable(found):
        raise ValueError(f"policy: {name!r} is not a function")
    return found  # type: ignore[no-any-return]


def load_policy(name: str, num_states: int, num_actions: int) -> np.ndarray:
    """(S, A) action probabilities of the named policy; SpaceError if they do not fit."""
    if name == RANDOM:
        return np.full((num_states, num_actions), 1.0 / num_actions)
    try:
        policy = np.asarray(policy_function(name)(num_states, num_actions), dtype=np.float64)
    except ValueError as exc:
        raise SpaceError(f"agent 'prediction': {exc}") from None
    if policy.shape != (num_states, num_actions) or (policy < 0).any():
        raise SpaceError(
            f"agent 'prediction': policy {name} did not give (S, A) = "
            f"{(num_states, num_actions)} probabilities (got shape {policy.shape})"
        )
    if not np.allclose(policy.sum(axis=1), 1.0):
        raise SpaceError(f"agent 'prediction': the rows of {name}'s probabilities do not sum to 1")
    return policy


def sample_actions(policy: np.ndarray, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) one action per state drawn from policy[state]."""
    cumulative = policy[states].cumsum(axis=1)
    draws = rng.random(len(states))[:, None]
    actions = np.minimum((cumulative <= draws).sum(axis=1), policy.shape[1] - 1)
    return np.asarray(actions, dtype=np.int64)


@dataclass
class PredictionConfig:
    """Estimate v_pi, the state values of a given policy, from its episodes."""

    method: Method = "mc"
    """mc: average of the returns that follow each visit, learned at the episode's end; td0:
    v(s) += alpha * (r + gamma * v(s') - v(s)) after every step."""
    policy: str = RANDOM
    """The policy to evaluate: "random" (uniform), or "package.module:function" returning
    (S, A) probabilities, e.g. "rlkit.envs.blackjack:stick_on_20_or_21"."""
    visit: Visit = "first"
    """mc only: learn from each state's first visit in an episode, or from every visit."""
    step_size: float | None = None
    """Omitted: 1/n for the n-th target of a state (the sample average: the book's MC);
    else a constant alpha in (0, 1] (the book's TD(0))."""
    gamma: float = 1.0
    """Discount factor, in [0, 1]."""
    initial_v: float = 0.0
    """Initial value of every state."""

    def __post_init__(self) -> None:
        check_common(self.gamma, self.step_size)
        if self.policy != RANDOM and ":" not in self.policy:
            raise ValueError(
                f"policy: {self.policy!r} is neither 'random' nor 'package.module:function'"
            )
        if self.policy != RANDOM:
            policy_function(self.policy)


@register_agent("prediction")
class PredictionAgent(Agent[PredictionConfig]):
    """MC or TD(0) prediction: follows a given policy and learns its state values."""

    family = TABULAR

    config_class = PredictionConfig

    def __init__(self, config: PredictionConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.check_spaces(spec)
        num_states, num_actions = discrete_sizes(spec)
        self.policy = load_policy(config.policy, num_states, num_actions)
        self.v = Estimates((num_states,), config.initial_v, config.step_size)
        self.buffers = EpisodeBuffers(spec.num_envs)
        self.transitions: list[Transition] = []
        self.episodes: list[Episode] = []

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        """Tables need Discrete observations and Discrete actions."""
        require_discrete(spec, "prediction", observations=True, actions=True)

    @property
    def values(self) -> np.ndarray:
        """(S,) the estimated state values of the policy (the checkpoint's "values")."""
        return self.v.values

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Actions of the given policy, when training and when evaluated alike."""
        return sample_actions(self.policy, np.asarray(obs, dtype=np.int64).reshape(-1), self.rng)

    def observe(self, transition: Transition) -> None:
        """TD(0): keep the step; MC: add it to the episodes and keep those it ended."""
        if self.config.method == "td0":
            self.transitions.append(Transition(*(np.array(x) for x in transition)))
        else:
            self.episodes += self.buffers.add(transition)

    def update(self) -> dict[str, float]:
        """Learn from what was kept; metric: mean |target - estimate| (mc_error or td_error)."""
        if not (self.transitions or self.episodes):
            return {}
        errors = [self._learn_step(t) for t in self.transitions]
        errors += [self._learn_episode(episode) for episode in self.episodes]
        self.transitions, self.episodes = [], []
        name = "td_error" if self.config.method == "td0" else "mc_error"
        return {name: float(np.mean(errors))}

    def _learn_episode(self, episode: Episode) -> float:
        """MC: average the returns that follow the episode's (first) visits into v."""
        tail = self.v.values[episode.last_state] if episode.truncated else 0.0
        entries, returns = mc_targets(
            episode.states, episode.rewards, self.config.gamma, self.config.visit, tail
        )
        return self.v.learn(entries, returns)

    def _learn_step(self, t: Transition) -> float:
        """TD(0) on one vector step: targets from the table before it, applied in env order."""
        s_tm1 = np.asarray(t.obs, dtype=np.int64).reshape(-1)
        targets = td0_targets(
            self.v.values,
            np.asarray(t.reward, dtype=np.float64).reshape(-1),
            np.asarray(t.next_obs, dtype=np.int64).reshape(-1),
            np.asarray(t.terminated, dtype=bool).reshape(-1),
            self.config.gamma,
        )
        return self.v.learn(s_tm1, targets)

    def state_dict(self) -> dict[str, Any]:
        """State values and counts, unfinished episodes, unlearned steps or episodes, the RNG."""
        return {
            **super().state_dict(),
            **self.v.state_dict(),
            "buffers": self.buffers.state_dict(),
            "transitions": [t._asdict() for t in self.transitions],
            "episodes": episode_state(self.episodes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned; the table must have this agent's shape."""
        self.v.load_state_dict(state)
        super().load_state_dict(state)
        self.buffers.load_state_dict(state["buffers"])
        self.transitions = [Transition(**t) for t in state["transitions"]]
        self.episodes = [Episode(**episode) for episode in state["episodes"]]
