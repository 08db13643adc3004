"""The Deep GA agent: a greedy policy network whose parameters come from a compact genome.

Training is the neuroevolution trainer's job (`rlkit.agents.ga.train`, see `training_loop`);
the agent is what it evolves and what `rlkit eval` plays: the elite genome's network.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlkit.agent import NEUROEVOLUTION, Agent, EnvSpec, register_agent
from rlkit.agents.ga.config import GAConfig
from rlkit.agents.ga.genome import Genome, GenomeDecoder, init_bounds
from rlkit.agents.ga.safe_mutation import safe_mutation_scale
from rlkit.agents.ga.train import GALoop
from rlkit.errors import SpaceError
from rlkit.nn.flat import FlatParameters
from rlkit.nn.networks import MLPTrunk, build_trunk
from rlkit.nn.numpy_mlp import Layer, copy_layers, mlp_forward, numpy_layers


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

    def numpy_layers(self) -> list[Layer] | None:
        """Numpy views of an MLP's layers, for a torch-free forward pass (a one-row batch costs
        microseconds in numpy, tens of them through torch modules); None for other trunks."""
        if not isinstance(self.trunk, MLPTrunk):
            return None
        return numpy_layers([*self.trunk.body, self.head])


def check_policy_spaces(spec: EnvSpec, agent: str) -> None:
    """SpaceError unless the GA's policy network can act in `spec` (Box observations;
    Discrete or bounded 1-D Box actions); `agent` names the agent in the message."""
    obs, action = spec.observation_space, spec.action_space
    if not isinstance(obs, gym.spaces.Box):
        raise SpaceError(f"agent '{agent}' needs Box observations; {spec.env_id} has {obs}")
    box_ok = (
        isinstance(action, gym.spaces.Box)
        and len(action.shape) == 1
        and bool(np.all(np.isfinite(action.low)) and np.all(np.isfinite(action.high)))
    )
    if not (isinstance(action, gym.spaces.Discrete) or box_ok):
        raise SpaceError(
            f"agent '{agent}' needs Discrete or bounded 1-D Box actions; {spec.env_id} has {action}"
        )


@register_agent("ga")
class GAAgent(Agent[GAConfig]):
    """Deep GA (Such et al. 2017): truncation selection, Gaussian mutation, compact genomes."""

    family = NEUROEVOLUTION

    config_class = GAConfig
    training_loop = GALoop
    budget_keys = frozenset({"agent.generations"})

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        check_policy_spaces(spec, "ga")

    def __init__(self, config: GAConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.net = GreedyPolicy(config, spec)
        self.params = FlatParameters.of(self.net, grads=False)
        self.layers = self.net.numpy_layers()  # views: they follow every set_genome
        scale = safe_mutation_scale(config, self.net, spec.observation_space)
        self.decoder = GenomeDecoder(init_bounds(self.net), config.parent_cache_size, scale)
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

    def layer_copy(self) -> list[Layer]:
        """A private copy of the current MLP's numpy layers (same memory layout, same results)."""
        assert self.layers is not None
        return copy_layers(self.layers)

    def state_dict(self) -> dict[str, Any]:
        """The elite genome (a few bytes per generation) and the RNG."""
        return {**super().state_dict(), "genome": self.genome.to_array()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.set_genome(Genome.from_array(state["genome"]))
