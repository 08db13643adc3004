"""Observation and reward normalisation for the actor-critic agents (A2C, PPO), as SB3's
VecNormalize does it, inside the agent so that checkpoints carry the statistics.

Observations: each one the agent acts on in training updates the running mean/std first, then
is normalised and clipped (the greedy evaluation of `rlkit eval`, `--video` and the runner's
evaluations use the statistics as they are: frozen). Rewards: scaled by the running std of each
env's discounted return. The rollout stores what the agent saw: normalised observations, scaled
rewards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlkit.agent import EnvSpec, Transition
from rlkit.agents.pg.policies import PolicyGradientConfig
from rlkit.normalization import ObservationNormalizer, RewardScaler


class InputNormalization:
    """The agent's observation normaliser and reward scaler (each optional, per the config)."""

    def __init__(self, config: PolicyGradientConfig, spec: EnvSpec) -> None:
        shape = tuple(spec.observation_space.shape or ())
        clip = config.normalization_clip
        self.obs = ObservationNormalizer(shape, clip) if config.normalize_observations else None
        self.rewards = (
            RewardScaler(spec.num_envs, config.gamma, clip) if config.normalize_rewards else None
        )

    def observations(self, obs: np.ndarray, update: bool) -> np.ndarray:
        """`obs` as the policy sees it; in training (`update`) the statistics take it in first."""
        if self.obs is None:
            return obs
        if update:
            self.obs.update(obs)
        return self.obs.normalize(obs)

    def transition(self, transition: Transition) -> Transition:
        """The step as the agent learns from it: normalised observations, scaled rewards."""
        if self.obs is not None:
            transition = transition._replace(
                obs=self.obs.normalize(transition.obs),
                next_obs=self.obs.normalize(transition.next_obs),
            )
        if self.rewards is not None:
            self.rewards.update(transition.reward, transition.terminated, transition.truncated)
            transition = transition._replace(reward=self.rewards.normalize(transition.reward))
        return transition

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if self.obs is not None:
            state["obs"] = self.obs.state_dict()
        if self.rewards is not None:
            state["rewards"] = self.rewards.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.obs is not None:
            self.obs.load_state_dict(state["obs"])
        if self.rewards is not None:
            rewards = dict(state["rewards"])
            if np.shape(rewards["returns"]) != self.rewards.returns.shape:
                # built to act on another number of envs (`rlkit eval`): the statistics apply,
                # the running returns of the training envs do not
                rewards["returns"] = np.zeros_like(self.rewards.returns)
            self.rewards.load_state_dict(rewards)
