"""Greedy evaluation over a fixed number of episodes, unbiased across vector sub-envs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv

from rlkit.agent import Agent
from rlkit.rollout import RolloutState, rollout


@dataclass(frozen=True)
class EvalResult:
    """Returns of `episodes` greedy episodes."""

    episodes: int
    mean_return: float
    std_return: float
    mean_length: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, returns: Sequence[float], lengths: Sequence[int]) -> EvalResult:
        """Summarise the returns and lengths of finished episodes."""
        return cls(
            episodes=len(returns),
            mean_return=float(np.mean(returns)),
            std_return=float(np.std(returns)),
            mean_length=float(np.mean(lengths)),
        )


def evaluate(
    agent: Agent[Any], envs: VectorEnv[Any, Any, Any], episodes: int, seed: int
) -> EvalResult:
    """Play `episodes` greedy episodes on `envs` (reset with `seed`) and summarise the returns.

    Sub-env i plays a fixed quota of episodes, (episodes + i) // num_envs, so short episodes
    are not over-represented as they would be by taking the first episodes to finish.
    """
    n = envs.num_envs
    quota = np.array([(episodes + i) // n for i in range(n)])
    returns: list[float] = []
    lengths: list[int] = []
    done = np.zeros(n, dtype=np.int64)
    state = RolloutState.reset(envs, seed)
    for _, finished in rollout(envs, agent, state, explore=False):
        for ep in finished:
            if done[ep.env_index] < quota[ep.env_index]:
                done[ep.env_index] += 1
                returns.append(ep.episode_return)
                lengths.append(ep.length)
        if (done >= quota).all():
            break
    return EvalResult.of(returns, lengths)
