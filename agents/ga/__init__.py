"""The Deep GA (Such et al. 2017) with novelty search: compact seed-list genomes, truncation
selection, elitism, evaluated serially, in processes or on Ray (its own training loop)."""

from rlkit.agents.ga.agent import GAAgent
from rlkit.agents.ga.config import GAConfig

__all__ = ["GAAgent", "GAConfig"]
