"""The settings of evolution strategies: OpenAI-ES, NS-ES and NSR-ES (`mode`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from rlkit.agents.ga.es import Mode
from rlkit.agents.ga.novelty import NoveltyConfig
from rlkit.nn.networks import NetworkKind


@dataclass
class ESConfig:
    """Every knob of OpenAI-ES (Salimans et al. 2017) and its novelty-seeking variants NS-ES
    and NSR-ES (Conti et al. 2018); the defaults suit small classic-control tasks."""

    mode: Mode = "es"
    """es: climb the return; ns: climb novelty (NS-ES); nsr: the mean of both ranks (NSR-ES)."""
    network: NetworkKind = "auto"
    """Trunk, as the GA's: auto picks a CNN for frames and grids, an MLP otherwise."""
    hidden: list[int] = field(default_factory=lambda: [16])
    """MLP hidden layer sizes (vector observations)."""
    activation: Literal["relu", "tanh"] = "tanh"
    """MLP activation."""
    pairs: int = 20
    """Antithetic pairs per iteration: 2 x pairs perturbations theta +- sigma * eps."""
    sigma: float = 0.1
    """Noise standard deviation of the perturbations."""
    learning_rate: float = 0.03
    """Adam's step size on the gradient estimate."""
    beta1: float = 0.9
    """Adam's first-moment decay."""
    beta2: float = 0.999
    """Adam's second-moment decay."""
    l2: float = 0.005
    """Weight decay: l2 * theta is subtracted from the gradient estimate before Adam."""
    episodes_per_eval: int = 1
    """Episodes averaged into one perturbation's fitness (both members of a pair play the
    same env seeds)."""
    centre_episodes: int = 5
    """Episodes of each updated centre: the iteration's evaluation (best.pt, the target) and,
    for NS/NSR, its behaviour for the archive."""
    iterations: int | None = None
    """Budget in iterations; None: run.total_steps is the budget in frames (perturbation and
    centre episodes together)."""
    meta_population: int = 3
    """NS/NSR: M centres, each with its own Adam (ES uses one)."""
    k: int = 10
    """NS/NSR: nearest behaviours averaged for novelty (see population_novelty)."""
    population_novelty: bool = True
    """NS/NSR: a perturbation's k nearest neighbours are sought among the archive and the
    iteration's other perturbations (Lehman & Stanley's novelty against population and archive,
    as the GA computes it); false: the archive only, as Conti et al. write it. With the archive
    only, perturbations that all end where the archive is dense tie at novelty 0 and the
    gradient vanishes (the deceptive maze: RESULTS_es.md)."""
    elite: bool = True
    """NS/NSR: also re-evaluate each iteration's perturbation of highest return on the centre's
    episodes and report it (evaluation line, best.pt, the target, the policy the agent plays)
    when it beats the updated centre, as the GA reports its best individual by return while
    selecting on novelty. The centres themselves still follow novelty. ES: always the centre."""
    reward_weight: float = 0.5
    """NSR: weight of the reward rank (novelty's gets 1 - w); 0.5 is Conti et al.'s mean."""
    behaviour: Literal["env", "final_obs"] = "env"
    """NS/NSR: env: the env's behaviour(final_obs) method; final_obs: the final observation."""
    backend: Literal["serial", "processes", "ray"] = "serial"
    """Where perturbations are evaluated: here, on local worker processes, or on Ray."""
    workers: int = 2
    """Worker processes or Ray actors (0: one per CPU core)."""
    ray_address: str | None = None
    """Ray cluster to join (None: start a local Ray instance)."""

    def __post_init__(self) -> None:
        if self.pairs < 1:
            raise ValueError(f"pairs must be >= 1, got {self.pairs}")
        for name in ("sigma", "learning_rate"):
            if not 0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be > 0 and finite, got {getattr(self, name)}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.l2 < math.inf:
            raise ValueError(f"l2 must be >= 0 and finite, got {self.l2}")
        for name in ("episodes_per_eval", "centre_episodes", "meta_population", "k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"iterations must be >= 1 (or unset), got {self.iterations}")
        if not 0.0 <= self.reward_weight <= 1.0:
            raise ValueError(f"reward_weight must be in [0, 1], got {self.reward_weight}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    @property
    def centres(self) -> int:
        """Centres kept: meta_population for NS/NSR, one for ES."""
        return 1 if self.mode == "es" else self.meta_population

    @property
    def novelty(self) -> NoveltyConfig:
        """What the GA's evaluators read: whether to record behaviours, and how (every updated
        centre enters the archive: archive_probability 1)."""
        mode: Literal["off", "ns", "nsr"] = "off" if self.mode == "es" else self.mode
        return NoveltyConfig(
            mode=mode,
            k=self.k,
            reward_weight=self.reward_weight,
            archive_probability=1.0,
            behaviour=self.behaviour,
        )
