"""The one loop: step a vector env with an agent, yield transitions and finished episodes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from gymnasium.vector import VectorEnv

from rlkit.agent import Transition


class Actor(Protocol):
    """What the loop needs of an agent: actions for a batch of observations."""

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray: ...


@dataclass(frozen=True)
class Episode:
    """A finished episode of one sub-env."""

    env_index: int
    episode_return: float
    length: int
    truncated: bool


@dataclass
class RolloutState:
    """Where the loop stands: current observations and the running episode statistics."""

    obs: np.ndarray
    returns: np.ndarray
    lengths: np.ndarray

    @classmethod
    def reset(cls, envs: VectorEnv[Any, Any, Any], seed: int | None) -> RolloutState:
        """Reset every sub-env (seeded seed, seed+1, ...) and start counting from zero."""
        obs, _ = envs.reset(seed=seed)
        n = envs.num_envs
        return cls(obs, np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.int64))

    def state_dict(self) -> dict[str, Any]:
        return {"obs": self.obs, "returns": self.returns, "lengths": self.lengths}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> RolloutState:
        return cls(state["obs"], state["returns"], state["lengths"])


class PairedEnv(Protocol):
    """A vector env of two halves that step on worker threads (rlkit.envs.paired); its class
    says so with `steps_in_halves = True`."""

    split: int
    """Sub-envs in the first half."""

    def send(self, half: int, actions: np.ndarray) -> Future[Any]: ...

    def join(self, first: Any, second: Any) -> Any: ...


def _act_and_step(
    envs: VectorEnv[Any, Any, Any], agent: Actor, obs: np.ndarray, explore: bool
) -> tuple[np.ndarray, Any]:
    """The agent's actions for `obs` and the env's step on them. A paired env's first half
    steps while the agent acts on the second half's rows (the first half's actions were sent
    at once); the agent sees two acts, each on a view of `obs`'s rows."""
    if not getattr(type(envs), "steps_in_halves", False):  # a wrapper's class does not say so
        action = agent.act(obs, explore)
        return action, envs.step(action)
    paired: PairedEnv = envs  # type: ignore[assignment]
    first = agent.act(obs[: paired.split], explore)
    stepping = paired.send(0, first)
    second = agent.act(obs[paired.split :], explore)
    other = paired.send(1, second)
    action = np.concatenate([first, second])
    return action, paired.join(stepping.result(), other.result())


def rollout(
    envs: VectorEnv[Any, Any, Any], agent: Actor, state: RolloutState, explore: bool
) -> Iterator[tuple[Transition, list[Episode]]]:
    """Step forever; `envs` must autoreset in SAME_STEP mode (see rlkit.envs.make_vector_env).

    The transition's next_obs holds the true final observation where an episode ended, so a
    truncated step can bootstrap from it; `state.obs` moves on to the reset observation.
    """
    attach = getattr(agent, "attach", None)  # duck-typed actors (benchmarks, tests) may lack it
    if attach is not None:
        attach(envs)
    while True:
        action, (next_obs, reward, terminated, truncated, info) = _act_and_step(
            envs, agent, state.obs, explore
        )
        done = np.logical_or(terminated, truncated)
        final_obs = next_obs
        episodes: list[Episode] = []
        state.returns += reward
        state.lengths += 1
        if done.any():
            final_obs = next_obs.copy()
            for i in np.flatnonzero(done):
                final_obs[i] = info["final_obs"][i]
                episodes.append(
                    Episode(
                        int(i), float(state.returns[i]), int(state.lengths[i]), bool(truncated[i])
                    )
                )
            state.returns[done] = 0.0
            state.lengths[done] = 0
        transition = Transition(
            obs=state.obs,
            action=np.asarray(action),
            reward=_float32(reward),
            next_obs=final_obs,
            terminated=np.asarray(terminated, dtype=bool),
            truncated=np.asarray(truncated, dtype=bool),
        )
        state.obs = next_obs
        yield transition, episodes


def _float32(reward: Any) -> np.ndarray:
    """Rewards in the float32 that replay and losses use. One beyond float32's range becomes
    +-inf, as numpy's cast makes it, but without numpy's overflow warning: the non-finite loss
    it leads to stops the run with a message that says so (rlkit.nn.optim.check_finite_loss)."""
    with np.errstate(over="ignore"):
        return np.asarray(reward, dtype=np.float32)
