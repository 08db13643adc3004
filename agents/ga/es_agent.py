"""The evolution-strategies agent: a greedy policy network whose parameters are a centre.

Training is `rlkit.agents.ga.es_train.ESLoop`'s job; the agent is what `rlkit eval` plays (the
last updated centre, or best.pt's) and what the GA's evaluators perturb. It plays through the
GA agent's network and numpy forward pass. In ES, a genome names a perturbation: its init_seed
is the index of a centre in the shared centres (`share`), its mutations the (seed, +-sigma)
noise added to it, so a pair is two one-mutation genomes whose sigmas differ in sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlkit.agent import NEUROEVOLUTION, Agent, EnvSpec, register_agent
from rlkit.agents.ga.agent import GAAgent, check_policy_spaces
from rlkit.agents.ga.config import GAConfig
from rlkit.agents.ga.es_config import ESConfig
from rlkit.agents.ga.es_train import ESLoop
from rlkit.agents.ga.genome import Genome, add_mutation, init_bounds, initial_vector
from rlkit.nn.numpy_mlp import Layer
from rlkit.seeding import derive_seed

_INITIAL = 30  # derive_seed tag of the initial centres


@register_agent("es")
class ESAgent(Agent[ESConfig]):
    """OpenAI-ES, NS-ES and NSR-ES (`mode`): a centre's greedy policy."""

    family = NEUROEVOLUTION

    config_class = ESConfig
    training_loop = ESLoop
    budget_keys = frozenset({"agent.iterations"})

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        check_policy_spaces(spec, "es")  # the GA's network, so the GA's spaces

    def __init__(self, config: ESConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.seed = seed
        network = GAConfig(
            network=config.network, hidden=list(config.hidden), activation=config.activation
        )
        self.policy = GAAgent(network, spec, seed)
        self.bounds = init_bounds(self.policy.net)
        self.genome = Genome(0)
        self.shared: tuple[np.ndarray, ...] = ()
        self._scratch = np.empty(len(self.bounds), dtype=np.float32)
        self.set_centre(self.initial_centre(0))

    @property
    def layers(self) -> list[Layer] | None:
        """Numpy views of the MLP's layers (None for CNNs), following every set_genome."""
        return self.policy.layers

    def initial_centre(self, index: int) -> np.ndarray:
        """Centre `index`'s start: the GA's initial draw (U(+-1/sqrt(fan_in))) with its own seed."""
        return initial_vector(derive_seed(self.seed, _INITIAL, index), self.bounds)

    def set_centre(self, centre: np.ndarray) -> None:
        """Act with `centre` (float32, copied)."""
        self.centre = np.array(centre, dtype=np.float32)
        self.policy.params.load(self.centre)

    def share(self, payload: tuple[np.ndarray, ...]) -> None:
        """The centres the next genomes perturb (kept, not copied: treat them as read-only)."""
        self.shared = payload

    def set_genome(self, genome: Genome) -> None:
        """Load shared centre `genome.init_seed` plus the genome's perturbations."""
        if not 0 <= genome.init_seed < len(self.shared):
            raise IndexError(
                f"ES genome refers to centre {genome.init_seed}; {len(self.shared)} are shared"
            )
        vector = self.shared[genome.init_seed].copy()
        for seed, sigma in genome.mutations:
            add_mutation(vector, seed, sigma, self._scratch)
        self.policy.params.load(vector)
        self.genome = genome

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """The greedy action, with or without `explore`: ES policies are deterministic."""
        return self.policy.act(obs, explore)

    def actions(self, out: np.ndarray) -> np.ndarray:
        """Greedy actions from network outputs (argmax, or squashed means for Box)."""
        return self.policy.actions(out)

    def layer_copy(self) -> list[Layer]:
        """A private copy of the current MLP's numpy layers."""
        return self.policy.layer_copy()

    def state_dict(self) -> dict[str, Any]:
        """The centre it acts with and the RNG."""
        return {**super().state_dict(), "centre": self.centre.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        centre = np.asarray(state["centre"], dtype=np.float32)
        if centre.shape != self.centre.shape:
            raise ValueError(f"centre has shape {centre.shape}, the network {self.centre.shape}")
        self.set_centre(centre)
