"""The policy-gradient family: REINFORCE and A2C on one actor-critic, policy and loss."""

from rlkit.agents.pg.a2c import A2CAgent, A2CConfig
from rlkit.agents.pg.reinforce import ReinforceAgent, ReinforceConfig

__all__ = ["A2CAgent", "A2CConfig", "ReinforceAgent", "ReinforceConfig"]
