"""PPO with the clipped surrogate objective (Schulman et al. 2017), on A2C's actor-critic.

Each update learns from the last `n_steps` vector steps (n_steps * num_envs transitions):
GAE(lambda) advantages and returns from the values of the rollout's policy, then `epochs` passes
over the batch in `minibatches` shuffled minibatches (every transition once per pass), each a
gradient step on

    -min(r A, clip(r, 1 - eps, 1 + eps) A) + value_coef * (V - R)^2 - entropy_coef * H,

r = pi(a|s) / pi_old(a|s), with the advantages standardised per minibatch. Options as in SB3 and
CleanRL: value clipping around the old values, linear annealing of the learning rate and of the
clip range, and an early stop of the update once the approximate KL divergence of a minibatch
exceeds 1.5 * target_kl (SB3's rule). The policy, its distributions, GAE, the flat parameter
buffers and gradient clipping are A2C's (rlkit.agents.pg.policies, rlkit.returns, rlkit.nn).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from rlkit.agent import POLICY_GRADIENT, Agent, EnvSpec, Transition, register_agent
from rlkit.agents.pg.a2c import RolloutBuffer
from rlkit.agents.pg.inputs import InputNormalization
from rlkit.agents.pg.losses import ppo_loss
from rlkit.agents.pg.passes import actor_critic_pass
from rlkit.agents.pg.policies import (
    ActedOutputs,
    GaussianHead,
    PolicyGradientConfig,
    PolicySampler,
    build_actor_critic,
    build_optimizer,
    check_box_only_options,
    check_policy_spaces,
    check_rollout_memory,
    clip_and_step,
    decay_learning_rate,
    rollout_tensor,
    state_values,
)
from rlkit.errors import ConfigError
from rlkit.nn.networks import resolve_device
from rlkit.nn.optim import check_finite_loss
from rlkit.returns import explained_variance, gae


@dataclass
class PPOConfig(PolicyGradientConfig):
    """Every PPO knob; the defaults are Stable-Baselines3's PPO defaults (batch 64 of 2048)."""

    n_steps: int = 2048
    """Vector steps per rollout; each update learns from n_steps * num_envs transitions."""
    epochs: int = 10
    """Passes over the rollout per update."""
    minibatches: int = 32
    """Minibatches per pass; n_steps * num_envs must be a multiple of it."""
    gae_lambda: float = 0.95
    """GAE(lambda) of the advantages (1.0: Monte Carlo returns minus the value)."""
    clip_range: float = 0.2
    """eps of the clipped surrogate: the ratio pi / pi_old is held within [1 - eps, 1 + eps]."""
    clip_range_vf: float | None = None
    """Clip the new values within this distance of the old ones (None: no value clipping)."""
    clip_decay_steps: int = 0
    """Anneal clip_range linearly to 0 over this many env steps (0: constant)."""
    normalize_advantage: bool = True
    """Standardise the advantages of each minibatch (mean 0, std 1)."""
    target_kl: float | None = None
    """Stop the update's passes once a minibatch's approximate KL exceeds 1.5 * target_kl."""
    learning_rate: float = 3e-4
    """Adam's step size."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """Adam (as in SB3 and CleanRL) or RMSprop."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n_steps", "epochs", "minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if not self.clip_range > 0:
            raise ValueError(f"clip_range must be > 0, got {self.clip_range}")
        if self.clip_range_vf is not None and not self.clip_range_vf > 0:
            raise ValueError(f"clip_range_vf must be > 0 or unset, got {self.clip_range_vf}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be > 0 or unset, got {self.target_kl}")
        if self.clip_decay_steps < 0:
            raise ValueError(f"clip_decay_steps must be >= 0, got {self.clip_decay_steps}")


def minibatch_indices(size: int, minibatches: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One pass: a random permutation of range(size) cut into `minibatches` equal parts."""
    return np.split(rng.permutation(size), minibatches)


def annealed(value: float, step: int, decay_steps: int) -> float:
    """value * (1 - step / decay_steps), floored at 0 (value itself when decay_steps is 0)."""
    if decay_steps <= 0:
        return value
    return value * max(1.0 - step / decay_steps, 0.0)


@register_agent("ppo")
class PPOAgent(Agent[PPOConfig]):
    """Proximal policy optimisation (clipped), Discrete or Box actions, MLP or Nature CNN."""

    family = POLICY_GRADIENT

    config_class = PPOConfig

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        check_policy_spaces(spec, "ppo")

    @classmethod
    def warm_up(cls, config: PPOConfig, num_envs: int) -> tuple[int, str]:
        """The first update learns from the first full rollout."""
        return config.n_steps * num_envs, (
            f"one rollout: agent.n_steps = {config.n_steps:,} x env.num_envs = {num_envs}"
        )

    def __init__(self, config: PPOConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        check_box_only_options(config, spec, "ppo")
        check_rollout_memory(config.n_steps, spec)
        batch = config.n_steps * spec.num_envs
        if batch % config.minibatches:
            raise ConfigError(
                f"agent.minibatches: n_steps * num_envs = {config.n_steps} * {spec.num_envs} = "
                f"{batch} is not a multiple of minibatches = {config.minibatches}; choose a "
                f"divisor of {batch}"
            )
        self.device = resolve_device(config.device)
        self.net = build_actor_critic(config, spec, with_value=True, device=self.device)
        self.actor = PolicySampler(self.net, spec.action_space, self.device, record_outputs=True)
        self.passes = actor_critic_pass(self.net, config.manual_backward)
        self.optimizer = build_optimizer(self.net, config)
        self.rollout = RolloutBuffer(config.n_steps)
        self.inputs = InputNormalization(config, spec)
        self.steps = 0
        self.updates = 0

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        inputs = self.inputs.observations(obs, update=explore)
        return self.actor.act(inputs, explore, self.rng, source=obs)

    def observe(self, transition: Transition) -> None:
        """Store the step; where acting records its outputs (the torch path), with the acting
        pass's log-probs and values for this very step (else NaN: the update computes them)."""
        acting = self.actor.consume(transition.action)
        taken = transition.action if acting is None else acting.taken
        extras = None
        if self.actor.records:
            ours = acting is not None and acting.acted_on(transition.obs)
            acted = acting.outputs if acting is not None and ours else None
            if acted is None:
                missing = np.full(len(transition.reward), np.nan, np.float32)
                acted = ActedOutputs(missing, missing)
            extras = {"old_log_prob": acted.log_prob, "old_value": acted.value}
        self.rollout.add(self.inputs.transition(transition), taken, extras)
        self.steps += len(transition.reward)

    def update(self) -> dict[str, float]:
        if not self.rollout.full:
            return {}
        return self._learn()

    def _learn(self) -> dict[str, float]:
        """GAE on the rollout, then `epochs` passes of minibatch gradient steps."""
        c, data = self.config, self.rollout.arrays
        length, num_envs = data["reward"].shape
        obs, actions = (
            rollout_tensor(data["obs"], self.device),
            rollout_tensor(data["action"], self.device),
        )
        acted_log_prob, acted_values = data.get("old_log_prob"), data.get("old_value")
        if (
            acted_log_prob is not None
            and acted_values is not None
            and not (np.isnan(acted_log_prob).any() or np.isnan(acted_values).any())
        ):  # the acting passes' own (PolicySampler's record_outputs)
            old_log_prob = rollout_tensor(acted_log_prob, self.device)
            old_values = rollout_tensor(acted_values, self.device)
            values = acted_values
        else:
            with torch.no_grad():
                old_log_prob, _, evaluated = self.net.evaluate(obs, actions)
            assert evaluated is not None
            old_values = evaluated
            values = evaluated.view(length, num_envs).cpu().numpy()
        next_values = self.rollout.next_values(
            values, lambda rows: state_values(self.net, rows, self.device)
        )
        advantages = gae(
            data["reward"],
            values,
            next_values,
            data["terminated"],
            data["truncated"],
            c.gamma,
            c.gae_lambda,
        )
        returns = advantages + values
        flat_advantages, flat_returns = (
            rollout_tensor(advantages, self.device),
            rollout_tensor(returns, self.device),
        )
        learning_rate = decay_learning_rate(self.optimizer, self.steps, c.lr_decay_steps)
        clip_range = annealed(c.clip_range, self.steps, c.clip_decay_steps)
        size = length * num_envs
        whole = _Minibatch(obs, actions, old_log_prob, old_values, flat_advantages, flat_returns)
        if c.minibatches == 1 and c.normalize_advantage and size > 1:
            whole = whole._replace(advantages=standardize_tensor(flat_advantages))
        sums = torch.zeros(len(_LOGGED), device=self.device)  # the losses' device (CUDA too)
        steps, stopped = 0, False
        for _ in range(c.epochs):
            for batch in self._minibatches(whole, size):
                outputs = self.passes.forward(batch.obs, batch.actions)
                assert outputs.values is not None
                loss = ppo_loss(
                    outputs.log_prob,
                    batch.old_log_prob,
                    batch.advantages,
                    outputs.entropy,
                    outputs.values,
                    batch.old_values,
                    batch.returns,
                    clip_range,
                    c.clip_range_vf,
                    c.value_coef,
                    c.entropy_coef,
                )
                if c.target_kl is not None and float(loss.approx_kl) > 1.5 * c.target_kl:
                    stopped = True
                    break
                check_finite_loss(
                    float(loss.total), "PPO", f"step {self.steps} (update {self.updates})"
                )
                self.passes.backward(loss.grads, outputs)
                grad_norm = clip_and_step(self.optimizer, self.net, c.max_grad_norm)
                sums += torch.stack([*(getattr(loss, name) for name in _LOGGED[:-1]), grad_norm])
                steps += 1
            if stopped:
                break
        self.updates += 1
        means = (sums / max(steps, 1)).tolist()
        metrics = {f"{name}_loss" if name in ("policy", "value") else name: mean
                   for name, mean in zip(_LOGGED, means, strict=True)}  # fmt: skip
        metrics.update(
            explained_variance=explained_variance(values, returns),
            learning_rate=learning_rate,
            clip_range=clip_range,
            gradient_steps=float(steps),
            early_stop=float(stopped),
        )
        if isinstance(self.net.head, GaussianHead):
            metrics["action_std"] = float(self.net.head.log_std.detach().exp().mean())
        return metrics

    def _minibatches(self, whole: _Minibatch, size: int) -> Iterator[_Minibatch]:
        """One pass over the rollout: shuffled minibatches with their advantages standardised,
        or the whole rollout (standardised once per update) when minibatches is 1."""
        c = self.config
        if c.minibatches == 1:
            yield whole
            return
        for index in minibatch_indices(size, c.minibatches, self.rng):
            rows = torch.as_tensor(index, device=self.device)
            batch = _Minibatch(*(tensor[rows] for tensor in whole))
            if c.normalize_advantage and len(index) > 1:
                batch = batch._replace(advantages=standardize_tensor(batch.advantages))
            yield batch

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rollout": self.rollout.state_dict(),
            "inputs": self.inputs.state_dict(),
            "counters": [self.steps, self.updates],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.rollout.load_state_dict(state["rollout"])
        self.inputs.load_state_dict(state.get("inputs", {}))
        self.steps, self.updates = state["counters"]


def standardize_tensor(values: torch.Tensor) -> torch.Tensor:
    """(x - mean) / (std + 1e-8), std with Bessel's correction as SB3 and CleanRL take it."""
    return (values - values.mean()) / (values.std() + 1e-8)


_LOGGED = ("policy", "value", "entropy", "approx_kl", "clip_fraction", "grad_norm")
"""The per-minibatch values an update logs the means of (PPOLoss fields, then the norm)."""


class _Minibatch(NamedTuple):
    """The rollout's tensors an update's gradient steps learn from (rows of them)."""

    obs: torch.Tensor
    actions: torch.Tensor
    old_log_prob: torch.Tensor
    old_values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
