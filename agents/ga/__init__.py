"""The Deep GA (Such et al. 2017) with novelty search: compact seed-list genomes, truncation
selection, elitism, evaluated serially, in processes or on Ray (its own training loop); and
evolution strategies (OpenAI-ES, NS-ES, NSR-ES) on the same genomes-by-seed and evaluators."""

from rlkit.agents.ga.agent import GAAgent
from rlkit.agents.ga.config import GAConfig
from rlkit.agents.ga.es_agent import ESAgent
from rlkit.agents.ga.es_config import ESConfig

__all__ = ["ESAgent", "ESConfig", "GAAgent", "GAConfig"]
