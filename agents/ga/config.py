"""The Deep GA's settings: network, population, selection, mutation, evaluation, backends."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from rlkit.agents.ga.novelty import NoveltyConfig
from rlkit.nn.networks import NetworkKind


@dataclass
class GAConfig:
    """Every Deep GA knob (Such et al. 2017); the defaults suit small classic-control tasks."""

    network: NetworkKind = "auto"
    """Trunk: auto picks the Nature CNN for stacked uint8 frames, the MinAtar CNN for boolean
    grids, an MLP otherwise."""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """MLP hidden layer sizes (vector observations)."""
    activation: Literal["relu", "tanh"] = "tanh"
    """MLP activation."""
    population: int = 100
    """Individuals evaluated per generation (N), the elite included."""
    truncation: int = 10
    """Parents per generation (T): the top T by selection score; each child has one parent."""
    sigma: float = 0.02
    """Mutation power: a child's parameters are its parent's plus sigma * N(0, 1) noise."""
    safe_mutation: Literal["off", "sum"] = "off"
    """Safe mutations (Lehman et al. 2018): "sum" (SM-G-SUM) divides each parameter's noise by
    the sensitivity of the network's outputs to it on a batch of states, rescaled so the step
    keeps sigma's expected size (rlkit.agents.ga.safe_mutation); "off": plain Gaussian noise."""
    safe_mutation_batch: int = 64
    """States the sensitivity is measured on: a fixed batch drawn from the observation space."""
    safe_mutation_floor: float = 0.01
    """Floor on a parameter's sensitivity, as a fraction of the mean sensitivity: no parameter's
    noise grows beyond 1/floor times that of a parameter of mean sensitivity."""
    elite_candidates: int = 10
    """Top individuals by return (plus the previous elite) re-evaluated to choose the elite."""
    elite_episodes: int = 30
    """Extra evaluation episodes per elite candidate; the best mean becomes the elite."""
    episodes_per_eval: int = 1
    """Episodes averaged into one individual's fitness."""
    generations: int | None = None
    """Budget in generations; None: run.total_steps is the budget in frames (env steps x the
    Atari frame_skip, as the Deep GA paper counts them, elite re-evaluations included)."""
    backend: Literal["serial", "processes", "ray"] = "serial"
    """Where fitness is evaluated: in this process, on local worker processes, or on Ray."""
    workers: int = 2
    """Worker processes or Ray actors (0: one per CPU core)."""
    ray_address: str | None = None
    """Ray cluster to join, e.g. "10.0.0.5:6379" or "auto" (None: start a local Ray instance)."""
    cache_size: int = 0
    """Rebuilt parent networks cached per worker (0: truncation + 2)."""
    novelty: NoveltyConfig = field(default_factory=NoveltyConfig)
    """Novelty search (NS) or the reward-novelty mix (NSR) as the selection score."""

    def __post_init__(self) -> None:
        if self.population < 2:
            raise ValueError(f"population must be >= 2, got {self.population}")
        if not 1 <= self.truncation <= self.population:
            raise ValueError(
                f"truncation must be in [1, population] = [1, {self.population}] "
                f"(parents are chosen from the population), got {self.truncation}"
            )
        if not 0 < self.sigma < math.inf:
            raise ValueError(f"sigma must be > 0 and finite (the mutation power), got {self.sigma}")
        self._check_safe_mutation()
        if not 1 <= self.elite_candidates <= self.population:
            raise ValueError(
                f"elite_candidates must be in [1, population] = [1, {self.population}], "
                f"got {self.elite_candidates}"
            )
        for name in ("elite_episodes", "episodes_per_eval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.generations is not None and self.generations < 1:
            raise ValueError(f"generations must be >= 1 (or unset), got {self.generations}")
        if self.workers < 0 or self.cache_size < 0:
            raise ValueError("workers and cache_size must be >= 0")

    def _check_safe_mutation(self) -> None:
        if self.safe_mutation not in ("off", "sum"):
            raise ValueError(
                f"safe_mutation must be 'off' or 'sum' (SM-G-SUM), got {self.safe_mutation!r}"
            )
        if self.safe_mutation_batch < 1:
            raise ValueError(f"safe_mutation_batch must be >= 1, got {self.safe_mutation_batch}")
        if not 0 < self.safe_mutation_floor <= 1:
            raise ValueError(
                f"safe_mutation_floor must be in (0, 1] (a fraction of the mean sensitivity), "
                f"got {self.safe_mutation_floor}"
            )

    @property
    def parent_cache_size(self) -> int:
        """Rebuilt parents each worker keeps."""
        return self.cache_size or self.truncation + 2
