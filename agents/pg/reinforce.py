"""REINFORCE: Monte Carlo policy gradient over whole episodes, with an optional value baseline.

Episodes are collected per sub-env of the vector env and end at termination or truncation.
A truncated episode (time limit) was cut short, not finished: with a baseline its returns
bootstrap from V(final observation); without one there is no estimate to bootstrap from, so
its return stops at the cut (pure Monte Carlo).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from rlkit.agent import POLICY_GRADIENT, Agent, EnvSpec, Transition, register_agent
from rlkit.agents.pg.losses import policy_gradient_loss
from rlkit.agents.pg.passes import actor_critic_pass
from rlkit.agents.pg.policies import (
    PolicyGradientConfig,
    PolicySampler,
    batch_tensor,
    build_actor_critic,
    build_optimizer,
    check_box_only_options,
    check_policy_spaces,
    clip_and_step,
    decay_learning_rate,
)
from rlkit.errors import ConfigError
from rlkit.nn.networks import resolve_device
from rlkit.nn.optim import check_finite_loss
from rlkit.returns import discounted_returns, explained_variance, standardize


@dataclass
class ReinforceConfig(PolicyGradientConfig):
    """Every REINFORCE knob (the network and optimizer ones are shared with A2C)."""

    learning_rate: float = 1e-3
    """Optimizer step size (of the policy's parameters, and the baseline's unless set below)."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """Adam, or RMSprop (alpha 0.99)."""
    max_grad_norm: float = 0.0
    """Gradient-norm clipping (0: off)."""
    baseline: bool = False
    """Learn a value baseline V(s) and weigh log-probabilities by G_t - V(s_t)."""
    standardize: bool = True
    """Standardise the weights (G_t, or G_t - V(s_t) with a baseline) over each update."""
    episodes_per_update: int = 1
    """Finished episodes (over all sub-envs) per gradient step; episodes that end on the same
    vector step join the same update. With 1 env and 1 episode, standardising is per episode."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.episodes_per_update < 1:
            raise ValueError(f"episodes_per_update must be >= 1, got {self.episodes_per_update}")


class EpisodeData(NamedTuple):
    """One finished episode of one sub-env."""

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_obs: np.ndarray | None
    """The observation the episode was truncated at (None: it terminated)."""


class EpisodeCollector:
    """Per-sub-env trajectories in progress, and the finished episodes not yet learned from."""

    def __init__(self, num_envs: int) -> None:
        self.partial: list[dict[str, list[Any]]] = [_empty() for _ in range(num_envs)]
        self.finished: list[EpisodeData] = []

    def add(self, transition: Transition, actions: np.ndarray) -> None:
        """Append each sub-env's step; move episodes that ended to `finished`."""
        t = transition
        for i, trajectory in enumerate(self.partial):
            trajectory["obs"].append(np.array(t.obs[i]))  # a copy: envs may reuse buffers
            trajectory["actions"].append(actions[i])
            trajectory["rewards"].append(t.reward[i])
            if t.terminated[i] or t.truncated[i]:
                final = None if t.terminated[i] else np.array(t.next_obs[i])
                obs, acts, rewards = (np.array(trajectory[k]) for k in _KEYS)
                self.finished.append(EpisodeData(obs, acts, rewards, final))
                self.partial[i] = _empty()

    def state_dict(self) -> dict[str, Any]:
        return {
            "partial": [{k: np.array(v) for k, v in p.items()} for p in self.partial],
            "finished": [ep._asdict() for ep in self.finished],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.partial = [{k: list(v) for k, v in p.items()} for p in state["partial"]]
        self.finished = [EpisodeData(**ep) for ep in state["finished"]]


_KEYS = ("obs", "actions", "rewards")


def _empty() -> dict[str, list[Any]]:
    return {k: [] for k in _KEYS}


@register_agent("reinforce")
class ReinforceAgent(Agent[ReinforceConfig]):
    """REINFORCE (Monte Carlo policy gradient), optional value baseline; Discrete or Box."""

    family = POLICY_GRADIENT

    config_class = ReinforceConfig

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        check_policy_spaces(spec, "reinforce")

    def __init__(self, config: ReinforceConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        check_box_only_options(config, spec, "reinforce")
        if config.normalize_observations or config.normalize_rewards:
            raise ConfigError(
                "agent.normalize_observations and agent.normalize_rewards: agent 'reinforce' "
                "learns from whole-episode returns and has no normalisation; use 'a2c' or 'ppo'"
            )
        self.device = resolve_device(config.device)
        self.net = build_actor_critic(config, spec, config.baseline, self.device)
        self.actor = PolicySampler(self.net, spec.action_space, self.device)
        self.passes = actor_critic_pass(self.net, config.manual_backward)
        self.optimizer = build_optimizer(self.net, config)
        self.episodes = EpisodeCollector(spec.num_envs)
        self.steps = 0
        self.updates = 0

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        return self.actor.act(obs, explore, self.rng)

    def observe(self, transition: Transition) -> None:
        self.episodes.add(transition, self.actor.taken(transition.action))
        self.steps += len(transition.reward)

    def update(self) -> dict[str, float]:
        if len(self.episodes.finished) < self.config.episodes_per_update:
            return {}
        metrics = self._learn(self.episodes.finished)
        self.episodes.finished = []
        return metrics

    def _learn(self, episodes: list[EpisodeData]) -> dict[str, float]:
        """One gradient step on the finished episodes."""
        c = self.config
        obs = self._tensor(np.concatenate([ep.obs for ep in episodes]))
        actions = self._tensor(np.concatenate([ep.actions for ep in episodes]))
        outputs = self.passes.forward(obs, actions)
        values = outputs.values
        returns = self.returns(episodes)
        weights = returns if values is None else returns - values.cpu().numpy()
        if c.standardize:
            weights = standardize(weights)
        loss = policy_gradient_loss(
            outputs.log_prob,
            outputs.entropy,
            self._tensor(weights),
            values,
            self._tensor(returns),
            c.value_coef,
            c.entropy_coef,
        )
        check_finite_loss(
            float(loss.total), "REINFORCE", f"step {self.steps} (update {self.updates})"
        )
        learning_rate = decay_learning_rate(self.optimizer, self.steps, c.lr_decay_steps)
        self.passes.backward(loss.grads, outputs)
        metrics = {"grad_norm": float(clip_and_step(self.optimizer, self.net, c.max_grad_norm))}
        self.updates += 1
        metrics.update({name: float(value) for name, value in loss.parts.items()})
        if values is not None:
            metrics["explained_variance"] = explained_variance(values.cpu().numpy(), returns)
        if c.lr_decay_steps:
            metrics["learning_rate"] = learning_rate
        return metrics

    def returns(self, episodes: list[EpisodeData]) -> np.ndarray:
        """Discounted returns of each episode, concatenated; truncated episodes bootstrap from
        V(final obs) when there is a baseline."""
        bootstrap = np.zeros(len(episodes))
        cut = [i for i, ep in enumerate(episodes) if ep.final_obs is not None]
        if self.config.baseline and cut:
            finals = np.stack([episodes[i].final_obs for i in cut])  # type: ignore[misc]
            with torch.no_grad():
                bootstrap[cut] = self.net.values(self._tensor(finals)).cpu().numpy()
        return np.concatenate(
            [
                discounted_returns(ep.rewards, self.config.gamma, float(b))
                for ep, b in zip(episodes, bootstrap, strict=True)
            ]
        )

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor: torch.Tensor = batch_tensor(array, self.device)
        return tensor

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "episodes": self.episodes.state_dict(),
            "counters": [self.steps, self.updates],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.episodes.load_state_dict(state["episodes"])
        self.steps, self.updates = state["counters"]
