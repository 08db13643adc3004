"""A2C: synchronous advantage actor-critic over a vector env, n-step returns or GAE(lambda)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rlkit.agent import POLICY_GRADIENT, Agent, EnvSpec, Transition, register_agent
from rlkit.agents.pg.inputs import InputNormalization
from rlkit.agents.pg.losses import policy_gradient_loss
from rlkit.agents.pg.passes import AutogradPass, Outputs, actor_critic_pass
from rlkit.agents.pg.policies import (
    GaussianHead,
    KeptForward,
    PolicyGradientConfig,
    PolicySampler,
    batch_tensor,
    build_actor_critic,
    build_optimizer,
    check_box_only_options,
    check_policy_spaces,
    check_rollout_memory,
    clip_and_step,
    decay_learning_rate,
    numpy_policy,
    rollout_tensor,
    state_values,
)
from rlkit.nn.networks import resolve_device
from rlkit.nn.optim import check_finite_loss
from rlkit.returns import explained_variance, gae, n_step_returns, standardize


@dataclass
class A2CConfig(PolicyGradientConfig):
    """Every A2C knob; the defaults are Stable-Baselines3's A2C defaults."""

    n_steps: int = 5
    """Vector steps per rollout; each update learns from n_steps * num_envs transitions."""
    n_step: int | None = None
    """Rewards summed before bootstrapping (<= n_steps; None: n_steps, the classic A2C
    return; 1: the TD error r + gamma * V(s') - V(s) as the advantage)."""
    gae_lambda: float | None = None
    """GAE(lambda) advantages instead of n-step returns (None: off; 1.0 equals n_step=n_steps)."""
    normalize_advantage: bool = False
    """Standardise the advantages of each rollout (mean 0, std 1)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps}")
        if self.n_step is not None and not 1 <= self.n_step <= self.n_steps:
            raise ValueError(
                f"n_step must be in [1, n_steps] = [1, {self.n_steps}] (an n-step return cannot "
                f"be longer than the rollout), got {self.n_step}"
            )
        if self.gae_lambda is not None and not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if self.gae_lambda is not None and self.n_step is not None:
            raise ValueError("n_step and gae_lambda are alternatives; set only one of them")


class RolloutBuffer:
    """The last n_steps vector transitions, as (n_steps, num_envs, ...) arrays."""

    def __init__(self, n_steps: int) -> None:
        self.n_steps = n_steps
        self.position = 0
        self.arrays: dict[str, np.ndarray] = {}

    @property
    def full(self) -> bool:
        return self.position == self.n_steps

    def add(
        self,
        transition: Transition,
        actions: np.ndarray,
        extras: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Store one vector step; `actions` replaces transition.action (unclipped samples);
        `extras` are more per-env arrays to keep (an array first seen mid-rollout, as after
        loading an older checkpoint, starts as NaN)."""
        if self.full:
            self.position = 0
        values = {**transition._replace(action=actions)._asdict(), **(extras or {})}
        for name, x in values.items():
            if name not in self.arrays:
                x = np.asarray(x)
                self.arrays[name] = (
                    np.full((self.n_steps, *x.shape), np.nan, x.dtype)
                    if (x.dtype.kind == "f")
                    else np.empty((self.n_steps, *x.shape), x.dtype)
                )
            self.arrays[name][self.position] = x
        self.position += 1

    def next_values(
        self, values: np.ndarray, value_of: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """V(next_obs), (T, N), from V(obs) `values`: where next_obs[t] is obs[t + 1] (the
        episode went on: most rows) that is values[t + 1], already computed; `value_of` (a batch
        of observations -> their values) evaluates only the other rows: the last step, episode
        ends, observations normalised with statistics that moved in between. On pixels this
        saves a CNN forward pass over the whole rollout (SB3 and CleanRL reuse values the same
        way)."""
        obs, next_obs = self.arrays["obs"], self.arrays["next_obs"]
        length, num_envs = values.shape
        went_on = np.zeros((length, num_envs), dtype=bool)
        if length > 1:
            went_on[:-1] = (next_obs[:-1] == obs[1:]).reshape(length - 1, num_envs, -1).all(2)
        result = np.empty_like(values)
        result[:-1][went_on[:-1]] = values[1:][went_on[:-1]]
        if not went_on.all():
            result[~went_on] = value_of(next_obs[~went_on])
        return result

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "arrays": dict(self.arrays)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])
        self.arrays = {name: np.array(x) for name, x in state["arrays"].items()}


@register_agent("a2c")
class A2CAgent(Agent[A2CConfig]):
    """Synchronous advantage actor-critic (A2C), Discrete or Box actions, MLP or Nature CNN."""

    family = POLICY_GRADIENT

    config_class = A2CConfig

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        check_policy_spaces(spec, "a2c")

    @classmethod
    def warm_up(cls, config: A2CConfig, num_envs: int) -> tuple[int, str]:
        """The first update learns from the first full rollout."""
        return config.n_steps * num_envs, (
            f"one rollout: agent.n_steps = {config.n_steps:,} x env.num_envs = {num_envs}"
        )

    def __init__(self, config: A2CConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        check_box_only_options(config, spec, "a2c")
        check_rollout_memory(config.n_steps, spec)
        self.device = resolve_device(config.device)
        self.net = build_actor_critic(config, spec, with_value=True, device=self.device)
        self.passes = actor_critic_pass(self.net, config.manual_backward)
        # where acting runs the torch network and learning autograd (the Nature CNN, CUDA), the
        # update learns through the acting passes' own graphs (see `_forward`)
        self.per_step = (
            isinstance(self.passes, AutogradPass) and numpy_policy(self.net, self.device) is None
        )
        self.actor = PolicySampler(
            self.net, spec.action_space, self.device, keep_graph=self.per_step
        )
        self.kept: list[KeptForward | None] = []
        self.optimizer = build_optimizer(self.net, config)
        self.rollout = RolloutBuffer(config.n_steps)
        self.inputs = InputNormalization(config, spec)
        self.steps = 0
        self.updates = 0

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        inputs = self.inputs.observations(obs, update=explore)
        return self.actor.act(inputs, explore, self.rng, source=obs)

    def observe(self, transition: Transition) -> None:
        acting = self.actor.consume(transition.action)
        taken = transition.action if acting is None else acting.taken
        if self.rollout.full:
            self.kept.clear()
        if self.per_step:
            ours = acting is not None and acting.acted_on(transition.obs)
            self.kept.append(acting.kept if acting is not None and ours else None)
        self.rollout.add(self.inputs.transition(transition), taken)
        self.steps += len(transition.reward)

    def update(self) -> dict[str, float]:
        if not self.rollout.full:
            return {}
        return self._learn()

    def _learn(self) -> dict[str, float]:
        """One gradient step on the rollout."""
        c, data = self.config, self.rollout.arrays
        length, num_envs = data["reward"].shape
        outputs = self._forward()
        assert outputs.values is not None
        value_array = outputs.values.detach().view(length, num_envs).cpu().numpy()
        next_values = self.rollout.next_values(
            value_array, lambda rows: state_values(self.net, rows, self.device)
        )
        returns, advantages = self.targets(value_array, next_values)
        if c.normalize_advantage:
            advantages = standardize(advantages)
        loss = policy_gradient_loss(
            outputs.log_prob,
            outputs.entropy,
            rollout_tensor(advantages, self.device),
            outputs.values,
            rollout_tensor(returns, self.device),
            c.value_coef,
            c.entropy_coef,
        )
        check_finite_loss(float(loss.total), "A2C", f"step {self.steps} (update {self.updates})")
        learning_rate = decay_learning_rate(self.optimizer, self.steps, c.lr_decay_steps)
        self.passes.backward(loss.grads, outputs)
        grad_norm = float(clip_and_step(self.optimizer, self.net, c.max_grad_norm))
        self.updates += 1
        metrics = {name: float(value) for name, value in loss.parts.items()}
        metrics["grad_norm"] = grad_norm
        metrics["explained_variance"] = explained_variance(value_array, returns)
        if c.lr_decay_steps:
            metrics["learning_rate"] = learning_rate
        if isinstance(self.net.head, GaussianHead):
            metrics["action_std"] = float(self.net.head.log_std.detach().exp().mean())
        return metrics

    def _forward(self) -> Outputs:
        """The rollout's outputs with what backward needs. The autograd path (CNNs, CUDA) runs one
        forward pass per stored step, at the acting batch size: the acting passes' own, kept
        with their graphs (the parameters have not moved since), or, if a step was not acted
        on (a resumed run's first rollout), those same passes run again, so that results do not
        depend on which; the hand-written pass runs the rollout as one batch."""
        data = self.rollout.arrays
        actions = rollout_tensor(data["action"], self.device)
        if not self.per_step:
            return self.passes.forward(rollout_tensor(data["obs"], self.device), actions)
        assert isinstance(self.passes, AutogradPass)
        forwards = self.kept
        if len(forwards) != len(data["obs"]) or None in forwards:
            forwards = [
                KeptForward(*self.net.policy_params_and_values(batch_tensor(obs, self.device)))
                for obs in data["obs"]
            ]  # all again, in step order: autograd then sums the gradients in the same order
        self.kept = []
        values = [f.values for f in forwards if f is not None and f.values is not None]
        return self.passes.outputs(
            torch.cat([f.params for f in forwards if f is not None]),
            torch.cat(values) if values else None,
            actions,
        )

    def targets(self, values: np.ndarray, next_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(returns, advantages) of the stored rollout, (T, N) each, from V(s) and V(s')."""
        c, data = self.config, self.rollout.arrays
        rewards, terminated, truncated = data["reward"], data["terminated"], data["truncated"]
        if c.gae_lambda is not None:
            advantages = gae(
                rewards, values, next_values, terminated, truncated, c.gamma, c.gae_lambda
            )
            return advantages + values, advantages
        n = c.n_step or c.n_steps
        returns = n_step_returns(rewards, next_values, terminated, truncated, c.gamma, n)
        return returns, returns - values

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
        self.kept.clear()  # graphs are not saved: the update runs those passes again
        self.inputs.load_state_dict(state.get("inputs", {}))
        self.steps, self.updates = state["counters"]
