"""The DQN family: DQN, Double DQN, Dueling DQN and their combination (flags of one agent)."""

from rlkit.agents.dqn.agent import DQNAgent, DQNConfig

__all__ = ["DQNAgent", "DQNConfig"]
