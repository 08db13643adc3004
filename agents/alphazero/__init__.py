"""AlphaZero: PUCT search with a policy/value network trained by self-play (its own loop)."""

from rlkit.agents.alphazero.agent import AlphaZeroAgent, AlphaZeroPlayer
from rlkit.agents.alphazero.config import AlphaZeroConfig

__all__ = ["AlphaZeroAgent", "AlphaZeroConfig", "AlphaZeroPlayer"]
