"""The maths of evolution strategies (OpenAI-ES, NS-ES, NSR-ES) as pure functions on numpy.

OpenAI-ES (Salimans et al. 2017): perturb the centre theta with antithetic pairs theta +- sigma
* eps_i, shape the pairs' fitness by centred ranks in [-0.5, 0.5], estimate the gradient of the
smoothed objective as g = 1/(2 n sigma) sum_i (u+_i - u-_i) eps_i, add the L2 penalty's gradient
(-l2 * theta) and step with Adam. NS-ES and NSR-ES (Conti et al. 2018) keep M such centres, pick
one per iteration by novelty (NS) or by the mean of its novelty and reward ranks (NSR), and use
the perturbations' novelty (NS) or the mean of their novelty and fitness ranks (NSR) as the
fitness above; novelty is `rlkit.agents.ga.novelty.knn_novelty`, against the archive and, by
default, the iteration's other perturbations (`ESConfig.population_novelty`). Each
perturbation's eps_i is the GA's mutation noise (`rlkit.agents.ga.genome.add_mutation`) drawn
from its seed, so only seeds travel to workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rlkit.agents.ga.novelty import normalised_ranks

Mode = Literal["es", "ns", "nsr"]


def centred_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks scaled to [-0.5, 0.5] (Salimans et al.'s fitness shaping); ties share their mean
    rank, so an antithetic pair with equal fitness (both at CartPole's cap) adds nothing."""
    return normalised_ranks(values) - 0.5


def noise(seed: int, size: int) -> np.ndarray:
    """eps of the perturbation with `seed`: float32 N(0, 1), the very draw of add_mutation."""
    return np.random.default_rng(seed).standard_normal(size, dtype=np.float32)


def es_gradient(
    plus: np.ndarray, minus: np.ndarray, seeds: list[int], sigma: float, size: int
) -> np.ndarray:
    """1/(2 n sigma) sum_i (plus_i - minus_i) eps_i over n antithetic pairs (float64).

    `plus[i]`/`minus[i]`: shaped fitness of theta + sigma eps_i and theta - sigma eps_i. A
    fitness offset common to both members of a pair cancels exactly in their difference. The
    noise is accumulated one pair at a time in a fixed order: element-wise float operations,
    the same bits on every CPU.
    """
    if not len(plus) == len(minus) == len(seeds) >= 1:
        raise ValueError(f"{len(plus)} plus, {len(minus)} minus fitness values, {len(seeds)} seeds")
    gradient = np.zeros(size, dtype=np.float64)
    for seed, weight in zip(seeds, np.asarray(plus) - np.asarray(minus), strict=True):
        if weight != 0.0:
            gradient += float(weight) * noise(seed, size).astype(np.float64)
    gradient /= 2.0 * len(seeds) * sigma
    return gradient


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015) for gradient ascent on a numpy vector: first and second moments
    and the step count, all checkpointed."""

    learning_rate: float
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    m: np.ndarray | None = None
    v: np.ndarray | None = None
    t: int = 0

    def step(self, gradient: np.ndarray) -> np.ndarray:
        """The ascent step for `gradient`: lr * m_hat / (sqrt(v_hat) + eps), moments updated."""
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(gradient), np.zeros_like(gradient)
        self.t += 1
        self.m = self.beta1 * self.m + (1.0 - self.beta1) * gradient
        self.v = self.beta2 * self.v + (1.0 - self.beta2) * gradient * gradient
        m_hat = self.m / (1.0 - self.beta1**self.t)
        v_hat = self.v / (1.0 - self.beta2**self.t)
        step: np.ndarray = self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)
        return step

    def state_dict(self) -> dict[str, Any]:
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.m, self.v, self.t = state["m"], state["v"], int(state["t"])


def ascent_direction(gradient: np.ndarray, centre: np.ndarray, l2: float) -> np.ndarray:
    """The fitness gradient minus the L2 penalty's (weight decay l2 * theta), as Salimans et
    al.'s code feeds Adam."""
    return gradient - l2 * centre.astype(np.float64)


def shaped_fitness(
    mode: Mode, returns: np.ndarray, novelty: np.ndarray | None, reward_weight: float = 0.5
) -> np.ndarray:
    """Centred ranks of what each mode climbs: the return (ES), novelty (NS), or the weighted
    mean of both centred ranks (NSR; Conti et al.'s equal mix at reward_weight 0.5)."""
    if mode == "es":
        return centred_ranks(returns)
    assert novelty is not None, "NS and NSR need the perturbations' novelty"
    if mode == "ns":
        return centred_ranks(novelty)
    w = reward_weight
    mixed: np.ndarray = w * centred_ranks(returns) + (1.0 - w) * centred_ranks(novelty)
    return mixed


def selection_probabilities(
    mode: Mode, novelty: np.ndarray, returns: np.ndarray, reward_weight: float = 0.5
) -> np.ndarray:
    """Which of the M centres to update: NS, proportional to novelty (Conti et al.); NSR,
    proportional to the weighted mean of the reward and novelty ranks counted from 1 (ranks,
    because returns may be negative and live on another scale; from 1, so that the centre last
    on both still has a chance); ES has one centre. Uniform when every novelty is 0."""
    novelty = np.asarray(novelty, dtype=np.float64)
    m = len(novelty)
    if mode == "es" or m == 1:
        return np.full(m, 1.0 / m)
    if mode == "ns":
        total = novelty.sum()
        return novelty / total if total > 0 else np.full(m, 1.0 / m)
    w = reward_weight
    ranks = 1.0 + (m - 1) * (w * normalised_ranks(returns) + (1.0 - w) * normalised_ranks(novelty))
    probabilities: np.ndarray = ranks / ranks.sum()
    return probabilities
