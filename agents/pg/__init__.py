"""The policy-gradient family: REINFORCE, A2C and PPO on one actor-critic and policy."""

from rlkit.agents.pg.a2c import A2CAgent, A2CConfig
from rlkit.agents.pg.ppo import PPOAgent, PPOConfig
from rlkit.agents.pg.reinforce import ReinforceAgent, ReinforceConfig

__all__ = ["A2CAgent", "A2CConfig", "PPOAgent", "PPOConfig", "ReinforceAgent", "ReinforceConfig"]
