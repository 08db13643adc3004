"""Novelty search for the GA: behaviour characterisations, the archive, NS and NSR scores.

Novelty of an individual = mean Euclidean distance from its behaviour to its k nearest
neighbours among the other members of the current population and the archive (itself
excluded). NS selects on novelty alone; NSR on w * rank(return) + (1 - w) * rank(novelty),
with ranks normalised to [0, 1] (ties share their average rank). After each generation every
individual enters the archive independently with probability `archive_probability`; the coin
flips come from a generator seeded by (seed, generation), so a resumed run flips the same coins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rlkit.errors import ConfigError, SpaceError


@dataclass
class NoveltyConfig:
    """The `[agent.novelty]` table of the GA agent: novelty search and its NSR mix."""

    mode: Literal["off", "ns", "nsr"] = "off"
    """off: select on return; ns: on novelty only; nsr: on the rank mix of return and novelty."""
    k: int = 10
    """Nearest neighbours (population and archive, self excluded) averaged for novelty."""
    reward_weight: float = 0.5
    """NSR only: weight w of the return rank; novelty's rank gets 1 - w."""
    archive_probability: float = 0.01
    """Chance that each individual's behaviour enters the archive after a generation."""
    behaviour: Literal["env", "final_obs"] = "env"
    """env: the env's behaviour(final_obs) method; final_obs: the final observation itself."""

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        if not 0.0 <= self.reward_weight <= 1.0:
            raise ValueError(f"reward_weight must be in [0, 1], got {self.reward_weight}")
        if not 0.0 <= self.archive_probability <= 1.0:
            raise ValueError(
                f"archive_probability must be in [0, 1], got {self.archive_probability}"
            )


class NoveltyArchive:
    """The archive of past behaviours and the selection scores the GA truncates on."""

    def __init__(self, config: NoveltyConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.behaviours = np.zeros((0, 0), dtype=np.float64)
        self.generations = 0
        self.last_novelty = np.zeros(0, dtype=np.float64)  # for logging; empty when off

    def __len__(self) -> int:
        return len(self.behaviours)

    def selection_scores(self, behaviours: np.ndarray, returns: np.ndarray) -> np.ndarray:
        """(N, d) behaviours and (N,) returns -> (N,) scores, higher is better."""
        returns = np.asarray(returns, dtype=np.float64)
        if returns.ndim != 1:
            raise ValueError(f"returns must have shape (N,), got {returns.shape}")
        if self.config.mode == "off":
            return returns.copy()
        behaviours = self._check(behaviours)
        if len(behaviours) != len(returns):
            raise ValueError(f"{len(behaviours)} behaviours but {len(returns)} returns")
        self.last_novelty = self.novelty(behaviours)
        if self.config.mode == "ns":
            return self.last_novelty.copy()
        w = self.config.reward_weight
        return w * normalised_ranks(returns) + (1.0 - w) * normalised_ranks(self.last_novelty)

    def novelty(self, behaviours: np.ndarray) -> np.ndarray:
        """Mean distance of each behaviour to its k nearest others (population and archive)."""
        return knn_novelty(self._check(behaviours), self.behaviours, self.config.k)

    def update(self, behaviours: np.ndarray) -> None:
        """Add each behaviour with probability archive_probability (seeded per generation)."""
        behaviours = self._check(behaviours)
        rng = np.random.default_rng([self.seed, self.generations])
        self.generations += 1
        chosen = behaviours[rng.random(len(behaviours)) < self.config.archive_probability]
        if len(chosen):
            self.behaviours = np.concatenate([self.behaviours, chosen]) if len(self) else chosen
        if not len(self):  # remember the width so the saved empty archive has the right shape
            self.behaviours = np.zeros((0, behaviours.shape[1]), dtype=np.float64)

    def state_dict(self) -> dict[str, Any]:
        """The archive and the generation counter (its coin flips depend on it)."""
        return {"behaviours": self.behaviours.copy(), "generations": self.generations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict saved."""
        behaviours = np.asarray(state["behaviours"], dtype=np.float64)
        if behaviours.ndim != 2:
            raise ValueError(f"archive behaviours must be 2-D, got shape {behaviours.shape}")
        self.behaviours = behaviours.copy()
        self.generations = int(state["generations"])

    def _check(self, behaviours: np.ndarray) -> np.ndarray:
        """Validate a (N, d) batch of finite behaviours matching the archive's width."""
        array = np.asarray(behaviours, dtype=np.float64)
        if array.ndim != 2 or len(array) == 0:
            raise ValueError(f"behaviours must have shape (N, d) with N >= 1, got {array.shape}")
        width = self.behaviours.shape[1]  # 0 until the first update
        if width and array.shape[1] != width:
            raise ValueError(f"behaviours have width {array.shape[1]}, the archive {width}")
        if not np.all(np.isfinite(array)):
            raise SpaceError("novelty: a behaviour vector is NaN or infinite; it must be finite")
        return array


def normalised_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1] (0 = lowest), ties sharing their average rank."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    average = first + (counts - 1) / 2.0
    ranks: np.ndarray = average[inverse.ravel()] / max(n - 1, 1)
    return ranks


def knn_novelty(
    behaviours: np.ndarray, archive: np.ndarray, k: int, *, with_batch: bool = True
) -> np.ndarray:
    """Mean Euclidean distance of each behaviour to its k nearest neighbours among the archive
    and, `with_batch`, the batch's other behaviours (never itself): Lehman & Stanley's novelty
    against the population and the archive. Fewer than k candidates: the mean over all of them;
    none: zeros."""
    behaviours = np.asarray(behaviours, dtype=np.float64)
    archive = np.asarray(archive, dtype=np.float64).reshape(-1, behaviours.shape[1])
    n = len(behaviours)
    others = np.concatenate([behaviours, archive]) if with_batch else archive
    diff = behaviours[:, None, :] - others[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    if with_batch:
        dist[np.arange(n), np.arange(n)] = np.inf  # not its own neighbour
    k = min(k, len(others) - 1 if with_batch else len(others))
    if k < 1:
        return np.zeros(n, dtype=np.float64)
    novelty: np.ndarray = np.partition(dist, k - 1, axis=1)[:, :k].mean(axis=1)
    return novelty


def behaviour_function(
    config: NoveltyConfig, env: gym.Env[Any, Any]
) -> Callable[[np.ndarray], np.ndarray]:
    """Final observation -> 1-D float64 behaviour vector, as `config.behaviour` says."""
    if config.behaviour == "final_obs":
        return _as_vector
    method = getattr(env.unwrapped, "behaviour", None)
    if not callable(method):
        name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        raise ConfigError(
            f"agent.novelty.behaviour: 'env' needs a behaviour(final_obs) method on the env, "
            f"and {name} has none; use behaviour = 'final_obs' or an env that defines one "
            "(e.g. rlkit/DeceptiveMaze-v0)"
        )

    def from_env(final_obs: np.ndarray) -> np.ndarray:
        return _as_vector(method(final_obs))

    return from_env


def _as_vector(value: Any) -> np.ndarray:
    """Flatten any array-like into a float64 vector."""
    return np.asarray(value, dtype=np.float64).ravel()
