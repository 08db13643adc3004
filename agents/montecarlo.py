"""Monte Carlo control, and what it shares with MC and TD(0) prediction (prediction.py).

Sutton & Barto ch. 5-6, the tabular family's episode methods. Monte Carlo methods learn from
whole episodes, so every sub-env of the vector env keeps its own episode (`EpisodeBuffers`) and
an episode is learned from when it ends. Returns accumulate backwards as G = gamma * G + r
(`rlkit.returns.discounted_returns`; the book prints G = G + gamma * r, which is wrong).
Estimates are sample averages (step 1/n for the n-th target of an entry, the book's; the initial
value is forgotten at the first) unless a constant `step_size` is set. The variants are flags,
not classes: `mc_control` here (exploring starts or epsilon-soft, first- or every-visit, acting
with tabular.py's epsilon-greedy helpers) and `prediction` (a given policy's state values, by
`method = "mc"` or `"td0"`).

A truncated episode (a time limit) has no complete return: its tail is bootstrapped from the
estimate of the state it was cut at, as rlkit treats truncation everywhere.
"""

from __future__ import annotations

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
from rlkit.agents.tabular import epsilon_greedy_actions, epsilon_greedy_probs
from rlkit.errors import CheckpointError
from rlkit.returns import discounted_returns
from rlkit.schedules import ScheduleConfig, build_schedule

Visit = Literal["first", "every"]
Exploration = Literal["exploring_starts", "epsilon_soft"]
Method = Literal["mc", "td0"]


def first_visits(keys: np.ndarray) -> np.ndarray:
    """(T,) True where keys[t] occurs for the first time in the episode."""
    mask = np.zeros(len(keys), dtype=bool)
    mask[np.unique(keys, return_index=True)[1]] = True
    return mask


def mc_targets(
    keys: np.ndarray, rewards: np.ndarray, gamma: float, visit: Visit, bootstrap: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(entries, returns) an episode teaches, last step first as the book's backward loop:
    G_t = r_t + gamma * G_{t+1} for every visit, or only each entry's first visit."""
    returns = discounted_returns(rewards, gamma, bootstrap)
    keep = first_visits(keys) if visit == "first" else np.ones(len(keys), dtype=bool)
    order = np.flatnonzero(keep)[::-1]
    return np.asarray(keys)[order], returns[order]


def td0_targets(
    values: np.ndarray, r_t: np.ndarray, s_t: np.ndarray, terminated: np.ndarray, gamma: float
) -> np.ndarray:
    """r_t + gamma * v(s_t), with no bootstrap where s_t is terminal."""
    return np.asarray(r_t + np.where(terminated, 0.0, gamma * values[s_t]))


class Estimates:
    """A table of estimates with a visit count per entry; each target moves its entry by
    1/n (n its count so far: the sample average) or by a constant step size."""

    def __init__(self, shape: tuple[int, ...], initial: float, step_size: float | None) -> None:
        self.values = np.full(shape, initial, dtype=np.float64)
        self.counts = np.zeros(shape, dtype=np.int64)
        self.step_size = step_size

    def learn(self, entries: np.ndarray, targets: np.ndarray) -> float:
        """Apply the targets in order to the flat `entries`; returns mean |target - estimate|."""
        values, counts = self.values.reshape(-1), self.counts.reshape(-1)
        errors = 0.0
        for entry, target in zip(entries.tolist(), targets.tolist(), strict=True):
            counts[entry] += 1
            error = float(target - values[entry])
            values[entry] += error * (self.step_size or 1.0 / counts[entry])
            errors += abs(error)
        return errors / max(len(entries), 1)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"values": self.values.copy(), "counts": self.counts.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        values = np.asarray(state["values"], dtype=np.float64)
        if values.shape != self.values.shape:
            raise CheckpointError(
                f"checkpoint has a table of shape {values.shape}, this agent needs "
                f"{self.values.shape} (same env?)"
            )
        self.values = values.copy()
        self.counts = np.asarray(state["counts"], dtype=np.int64).copy()


class Episode(NamedTuple):
    """One finished episode of one sub-env."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    truncated: bool
    """Cut off by a time limit: the return after `last_state` is bootstrapped."""
    last_state: int
    """The true final observation (next_obs of the last step)."""


class EpisodeBuffers:
    """The episode each sub-env is playing: states, actions and rewards so far."""

    def __init__(self, num_envs: int) -> None:
        self.steps: list[list[tuple[int, int, float]]] = [[] for _ in range(num_envs)]

    def add(self, t: Transition) -> list[Episode]:
        """Append one vector step; return the episodes it ended, in sub-env order."""
        s, a = np.asarray(t.obs).reshape(-1).tolist(), np.asarray(t.action).reshape(-1).tolist()
        r = np.asarray(t.reward, dtype=np.float64).reshape(-1).tolist()
        terminated, truncated = np.asarray(t.terminated), np.asarray(t.truncated)
        finished = []
        for i, steps in enumerate(self.steps):
            steps.append((int(s[i]), int(a[i]), float(r[i])))
            if terminated[i] or truncated[i]:
                states, actions, rewards = zip(*steps, strict=True)
                cut = bool(truncated[i] and not terminated[i])
                last = int(np.asarray(t.next_obs).reshape(-1)[i])
                finished.append(
                    Episode(np.array(states), np.array(actions), np.array(rewards), cut, last)
                )
                self.steps[i] = []
        return finished

    def state_dict(self) -> list[np.ndarray]:
        """Per sub-env, a (T, 3) array of its unfinished episode's (state, action, reward)."""
        return [np.array(steps, dtype=np.float64).reshape(-1, 3) for steps in self.steps]

    def load_state_dict(self, state: list[Any]) -> None:
        self.steps = [
            [(int(s), int(a), float(r)) for s, a, r in np.asarray(rows).tolist()] for rows in state
        ]


def episode_state(episodes: list[Episode]) -> list[dict[str, Any]]:
    """Finished episodes not yet learned from, as checkpoint entries."""
    return [e._asdict() for e in episodes]


def check_common(gamma: float, step_size: float | None) -> None:
    """Range checks of the fields both configs have."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma: {gamma!r} is not in [0, 1]")
    if step_size is not None and not 0.0 < step_size <= 1.0:
        raise ValueError(f"step_size: {step_size!r} must be omitted (1/n) or in (0, 1]")


def _constant_epsilon() -> ScheduleConfig:
    return ScheduleConfig(kind="constant", start=0.1)


@dataclass
class MCControlConfig:
    """On-policy Monte Carlo control: action values averaged over returns, acting greedily
    with exploring starts or epsilon-soft (book, sections 5.3 and 5.4)."""

    exploration: Exploration = "exploring_starts"
    """exploring_starts: the first action of every training episode is uniform at random (the
    env's own start distribution supplies the random state), greedy after; epsilon_soft:
    epsilon-greedy throughout, greedy action 1 - eps + eps/|A|, each other eps/|A|."""
    visit: Visit = "first"
    """Learn from each (state, action)'s first visit in an episode, or from every visit."""
    epsilon: ScheduleConfig = field(default_factory=_constant_epsilon)
    """epsilon_soft only: the exploration rate, a schedule of env steps observed."""
    step_size: float | None = None
    """Omitted: the sample average (1/n for the n-th return of an entry); else a constant
    alpha in (0, 1]."""
    gamma: float = 1.0
    """Discount factor, in [0, 1]."""
    initial_q: float = 0.0
    """Initial value of every action value."""

    def __post_init__(self) -> None:
        check_common(self.gamma, self.step_size)
        values = [self.epsilon.start, self.epsilon.end, *(p[1] for p in self.epsilon.points)]
        if any(not 0.0 <= v <= 1.0 for v in values):
            raise ValueError(f"epsilon: values {values} must all be probabilities in [0, 1]")


@register_agent("mc_control")
class MCControlAgent(Agent[MCControlConfig]):
    """Monte Carlo control, exploring starts or epsilon-soft, learning at each episode's end.

    Evaluation (`explore=False`) plays the greedy policy, lowest action on ties.
    """

    family = TABULAR

    config_class = MCControlConfig

    def __init__(self, config: MCControlConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.check_spaces(spec)
        num_states, num_actions = discrete_sizes(spec)
        self.q = Estimates((num_states, num_actions), config.initial_q, config.step_size)
        self.epsilon = build_schedule(config.epsilon)
        self.buffers = EpisodeBuffers(spec.num_envs)
        self.starting = np.ones(spec.num_envs, dtype=bool)
        self.finished: list[Episode] = []
        self.steps = 0

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        """Tables need Discrete observations and Discrete actions."""
        require_discrete(spec, "mc_control", observations=True, actions=True)

    def current_epsilon(self) -> float:
        """Exploration rate of the behaviour policy after the first action (0 with ES)."""
        if self.config.exploration == "exploring_starts":
            return 0.0
        return float(self.epsilon(self.steps))

    def greedy_policy(self) -> np.ndarray:
        """(S,) greedy action of every state, lowest index on ties."""
        return np.asarray(self.q.values.argmax(axis=1), dtype=np.int64)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Greedy when evaluating; exploring: epsilon-greedy (ties at random), and with
        exploring starts a uniformly random first action in each sub-env's episode."""
        states = np.asarray(obs, dtype=np.int64).reshape(-1)
        q = self.q.values[states]
        if not explore:
            return np.asarray(q.argmax(axis=1), dtype=np.int64)
        actions = epsilon_greedy_actions(q, self.current_epsilon(), self.rng)
        if self.config.exploration == "exploring_starts" and len(states) == len(self.starting):
            first = self.rng.integers(0, q.shape[1], size=len(states))
            actions = np.where(self.starting, first, actions)
        return np.asarray(actions, dtype=np.int64)

    def observe(self, transition: Transition) -> None:
        """Add the vector step to each sub-env's episode; keep the episodes it ended."""
        self.finished += self.buffers.add(transition)
        done = np.asarray(transition.terminated) | np.asarray(transition.truncated)
        self.starting = done.reshape(-1).copy()
        self.steps += len(self.starting)

    def update(self) -> dict[str, float]:
        """Learn from the episodes that ended; metrics: epsilon and mean |G - q| of the visits."""
        if not self.finished:
            return {}
        errors = [self._learn(episode) for episode in self.finished]
        self.finished = []
        return {"epsilon": self.current_epsilon(), "mc_error": float(np.mean(errors))}

    def _learn(self, episode: Episode) -> float:
        """Average the episode's returns into q(s, a)."""
        bootstrap = self._tail_value(episode.last_state) if episode.truncated else 0.0
        num_actions = self.q.values.shape[1]
        keys = episode.states * num_actions + episode.actions
        entries, returns = mc_targets(keys, episode.rewards, self.config.gamma,
                                      self.config.visit, bootstrap)  # fmt: skip
        return self.q.learn(entries, returns)

    def _tail_value(self, state: int) -> float:
        """Value of the behaviour policy at a truncation: sum_a pi(a|s) q(s, a)."""
        q = self.q.values[state][None]
        return float((epsilon_greedy_probs(q, self.current_epsilon()) * q).sum())

    def state_dict(self) -> dict[str, Any]:
        """Action values and counts, unfinished and unlearned episodes, counters and the RNG."""
        return {
            **super().state_dict(),
            **self.q.state_dict(),
            "buffers": self.buffers.state_dict(),
            "finished": episode_state(self.finished),
            "starting": self.starting.copy(),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned; the table must have this agent's shape."""
        self.q.load_state_dict(state)
        super().load_state_dict(state)
        self.buffers.load_state_dict(state["buffers"])
        self.finished = [Episode(**episode) for episode in state["finished"]]
        self.starting = np.asarray(state["starting"], dtype=bool).copy()
        self.steps = int(state["steps"])
