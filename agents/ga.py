"""The Deep GA agent: a greedy policy network whose parameters come from a compact genome.

Training is the neuroevolution trainer's job (`rlkit.neuroevolution`, see `training_loop`);
the agent is what it evolves and what `rlkit eval` plays: the elite genome's network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlkit.agent import Agent, EnvSpec, register_agent
from rlkit.errors import SpaceError
from rlkit.genome import FlatParameters, Genome, GenomeDecoder, init_bounds
from rlkit.networks import MLPTrunk, build_trunk, mlp_forward
from rlkit.novelty import NoveltyConfig


@dataclass
class GAConfig:
    """Every Deep GA knob (Such et al. 2017); the defaults suit small classic-control tasks."""

    network: Literal["auto", "mlp", "nature_cnn"] = "auto"
    """Trunk: auto picks the Nature CNN for stacked uint8 frames, an MLP otherwise."""
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

    @property
    def parent_cache_size(self) -> int:
        """Rebuilt parents each worker keeps."""
        return self.cache_size or self.truncation + 2


class GreedyPolicy(nn.Module):
    """A trunk and a linear output: action scores (Discrete) or tanh means (Box)."""

    def __init__(self, config: GAConfig, spec: EnvSpec) -> None:
        super().__init__()
        space = spec.action_space
        self.trunk = build_trunk(
            spec.observation_space, config.network, config.hidden, config.activation
        )
        outputs = (
            int(space.n) if isinstance(space, gym.spaces.Discrete) else gym.spaces.flatdim(space)
        )
        self.head = nn.Linear(self.trunk.out_features, outputs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.trunk(obs))
        return out

    def numpy_layers(self) -> list[tuple[np.ndarray, np.ndarray, str]] | None:
        """(weight, bias, activation) views of an MLP's layers, for a torch-free forward pass
        (a one-row batch costs microseconds in numpy, tens of them through torch modules)."""
        if not isinstance(self.trunk, MLPTrunk):
            return None
        layers: list[tuple[np.ndarray, np.ndarray, str]] = []
        for module in [*self.trunk.body, self.head]:
            if isinstance(module, nn.Linear):
                weight, bias = module.weight.detach().numpy(), module.bias.detach().numpy()
                layers.append((weight.T, bias, "none"))
            else:
                layers[-1] = (*layers[-1][:2], "tanh" if isinstance(module, nn.Tanh) else "relu")
        return layers


@register_agent("ga")
class GAAgent(Agent[GAConfig]):
    """Deep GA (Such et al. 2017): truncation selection, Gaussian mutation, compact genomes."""

    config_class = GAConfig
    training_loop = "rlkit.neuroevolution:train_run"

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        obs, action = spec.observation_space, spec.action_space
        if not isinstance(obs, gym.spaces.Box):
            raise SpaceError(f"agent 'ga' needs Box observations; {spec.env_id} has {obs}")
        box_ok = (
            isinstance(action, gym.spaces.Box)
            and len(action.shape) == 1
            and bool(np.all(np.isfinite(action.low)) and np.all(np.isfinite(action.high)))
        )
        if not (isinstance(action, gym.spaces.Discrete) or box_ok):
            raise SpaceError(
                f"agent 'ga' needs Discrete or bounded 1-D Box actions; {spec.env_id} has {action}"
            )

    def __init__(self, config: GAConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.net = GreedyPolicy(config, spec)
        self.params = FlatParameters(self.net)
        self.layers = self.net.numpy_layers()  # views: they follow every set_genome
        self.decoder = GenomeDecoder(init_bounds(self.net), config.parent_cache_size)
        space = spec.action_space
        self.box = space if isinstance(space, gym.spaces.Box) else None
        self.genome = Genome(seed % 2**32)
        self.set_genome(self.genome)

    def set_genome(self, genome: Genome) -> None:
        """Load the network of `genome` (through the decoder's parent cache)."""
        self.params.load(self.decoder.build(genome))
        self.genome = genome

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """The greedy action, with or without `explore`: GA policies are deterministic."""
        return self.actions(self.forward(obs))

    def actions(self, out: np.ndarray) -> np.ndarray:
        """Greedy actions from network outputs: argmax (Discrete) or squashed means (Box)."""
        if self.box is None:
            actions: np.ndarray = out.argmax(axis=1)
            return actions
        low, high = self.box.low, self.box.high
        return np.asarray(low + (np.tanh(out) + 1.0) * 0.5 * (high - low), np.float32)

    def forward(self, obs: np.ndarray) -> np.ndarray:
        """The network's outputs for a batch of observations."""
        if self.layers is None:
            array = obs.astype(np.float32) if obs.dtype == np.float64 else obs
            with torch.inference_mode():
                out: np.ndarray = self.net(torch.as_tensor(array)).numpy()
            return out
        return mlp_forward(self.layers, obs)

    def layer_copy(self) -> list[tuple[np.ndarray, np.ndarray, str]]:
        """A private copy of the current MLP's numpy layers (same memory layout, same results)."""
        assert self.layers is not None
        return [(w.T.copy().T, b.copy(), activation) for w, b, activation in self.layers]

    def state_dict(self) -> dict[str, Any]:
        """The elite genome (a few bytes per generation) and the RNG."""
        return {**super().state_dict(), "genome": self.genome.to_array()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.set_genome(Genome.from_array(state["genome"]))
