"""DQN with the options that make Double DQN, Dueling DQN and their combination."""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlkit.agent import Agent, EnvSpec, Transition, register_agent
from rlkit.agents.dqn.fast_mlp import MLPQBackprop, flat_optimizer_state, optimizer_step
from rlkit.errors import SpaceError
from rlkit.nn.flat import FlatParameters
from rlkit.nn.networks import (
    QHead,
    QNetwork,
    build_trunk,
    is_image_space,
    resolve_device,
)
from rlkit.nn.optim import check_finite_loss, clip_grad_norm
from rlkit.replay import ReplayBatch, ReplayConfig, build_replay
from rlkit.schedules import ScheduleConfig, build_schedule


@dataclass
class DQNConfig:
    """Every DQN knob; `double` and `dueling` select the variant."""

    double: bool = False
    """Double DQN: the online net selects the next action, the target net evaluates it."""
    dueling: bool = False
    """Dueling head: Q = V + A - mean over actions of A (per sample)."""
    network: Literal["auto", "mlp", "nature_cnn"] = "auto"
    """Trunk: auto picks the Nature CNN for stacked uint8 frames, an MLP otherwise."""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """MLP hidden layer sizes (vector observations)."""
    activation: Literal["relu", "tanh"] = "relu"
    """MLP activation."""
    head_hidden: int = 0
    """Hidden units in each head stream (0: a single linear layer per stream)."""
    learning_rate: float = 1e-3
    """Optimizer step size."""
    optimizer: Literal["adam", "rmsprop"] = "adam"
    """Adam or RMSprop (centered=False, alpha 0.95 as in the Nature paper)."""
    optimizer_eps: float = 1e-8
    """Epsilon of the optimizer's denominator (Atari settings often use 1.5e-4 or 0.01/32^2)."""
    gamma: float = 0.99
    """Discount factor."""
    batch_size: int = 64
    """Transitions per gradient step."""
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    """Replay memory: capacity, n-step returns, prioritisation, compression."""
    learning_starts: int = 1_000
    """Transitions in replay before learning starts (replay start size)."""
    train_frequency: int = 1
    """Environment steps (summed over sub-envs) between rounds of gradient steps."""
    gradient_steps: int = 1
    """Gradient steps per round, back to back (the target network does not move between)."""
    target_update_interval: int = 1_000
    """Environment steps between target updates."""
    tau: float = 1.0
    """Target update: 1.0 copies the online net (hard); below 1, Polyak averaging (soft)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss on the taken action's Q-value."""
    max_grad_norm: float = 10.0
    """Gradient-norm clipping (0: off)."""
    epsilon: ScheduleConfig = field(
        default_factory=lambda: ScheduleConfig(kind="linear", start=1.0, end=0.05, steps=10_000)
    )
    """Exploration rate as a function of environment steps."""
    eval_epsilon: float = 0.0
    """Exploration rate during greedy evaluation (0.05 in the Nature Atari protocol)."""
    manual_backward: bool = True
    """MLP Q-networks: compute gradients by hand instead of with autograd (the same products
    without the graph; a CartPole gradient step takes about half the time on a CPU) and act
    through numpy on a CPU; other networks always use autograd."""
    checkpoint_replay: bool = True
    """Save the replay memory in checkpoints (exact resume; turn off for large Atari buffers)."""
    device: str = "auto"
    """auto: CUDA when present, else CPU."""

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        for name in ("batch_size", "train_frequency", "gradient_steps", "target_update_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_starts < 0 or self.max_grad_norm < 0:
            raise ValueError("learning_starts and max_grad_norm must be >= 0")


@register_agent("dqn")
class DQNAgent(Agent[DQNConfig]):
    """DQN, Double DQN, Dueling DQN and combinations, with replay and a target network."""

    config_class = DQNConfig

    @classmethod
    def for_acting(cls, config: DQNConfig, state: dict[str, Any]) -> DQNConfig:
        """Acting needs no replay memory: a small one, and the saved one is not loaded."""
        state.pop("replay", None)
        small = dataclasses.replace(config.replay, capacity=min(config.replay.capacity, 4_096))
        return dataclasses.replace(config, replay=small)

    @classmethod
    def check_spaces(cls, spec: EnvSpec) -> None:
        if not isinstance(spec.action_space, gym.spaces.Discrete):
            raise SpaceError(
                f"agent 'dqn' needs a Discrete action space; {spec.env_id} has "
                f"{spec.action_space} (DQN takes the argmax over finitely many actions)"
            )
        if not isinstance(spec.observation_space, gym.spaces.Box):
            raise SpaceError(
                f"agent 'dqn' needs Box observations; {spec.env_id} has {spec.observation_space} "
                "(for Discrete observations use 'tabular')"
            )

    def __init__(self, config: DQNConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.device = resolve_device(config.device)
        space = spec.observation_space
        assert isinstance(space, gym.spaces.Box)
        assert isinstance(spec.action_space, gym.spaces.Discrete)
        self.num_actions = int(spec.action_space.n)
        trunk = build_trunk(space, config.network, config.hidden, config.activation)
        head = QHead(trunk.out_features, self.num_actions, config.dueling, config.head_hidden)
        self.online = QNetwork(trunk, head).to(self.device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        # One buffer each for the parameters, their gradients and the target's parameters:
        # zeroing, clipping, the optimizer and target updates are one operation each.
        params = FlatParameters.of(self.online)
        assert params.grad is not None
        self.flat, self.grad = params.data, params.grad
        self.target_flat = FlatParameters.of(self.target, grads=False).data
        manual = config.manual_backward and MLPQBackprop.supports(self.online)
        self.backprop = MLPQBackprop(self.online) if manual else None
        self.target_backprop = MLPQBackprop(self.target) if manual else None
        self.max_grad_norm = config.max_grad_norm if config.max_grad_norm > 0 else math.inf
        self.optimizer = self._make_optimizer()
        frames = space.shape[0] if is_image_space(space) else None
        self.replay = build_replay(config.replay, space, spec.num_envs, config.gamma, frames)
        # Gradient steps whose batches one replay draw serves (see _learn): up to 64 MiB of
        # float32 observations and next observations per draw.
        row_bytes = 8 * math.prod(space.shape)
        self.steps_per_draw = max(1, (64 << 20) // (config.batch_size * row_bytes))
        self.epsilon = build_schedule(config.epsilon)
        self.beta = build_schedule(config.replay.beta)
        self.steps = 0
        self.updates = 0
        self.steps_since_train = 0
        self.last_target_update = 0

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params, c = [self.flat], self.config
        if c.optimizer == "rmsprop":
            return torch.optim.RMSprop(
                params, lr=c.learning_rate, alpha=0.95, eps=c.optimizer_eps, foreach=True
            )
        # The fused kernel does the whole Adam step in one call (CPU and CUDA, torch >= 2.4).
        return torch.optim.Adam(params, lr=c.learning_rate, eps=c.optimizer_eps, fused=True)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        epsilon = self.epsilon(self.steps) if explore else self.config.eval_epsilon
        random = self.rng.random(len(obs)) < epsilon
        actions = self.rng.integers(self.num_actions, size=len(obs))
        if random.all():  # early in training every env may act at random: skip the net
            return actions
        if self.backprop is not None and self.device.type == "cpu":
            greedy = self.backprop.numpy_q_values(obs).argmax(axis=1)  # a few us, not ~100
        else:
            with torch.inference_mode():
                q = self._q_values(torch.as_tensor(obs, device=self.device))
            greedy = q.argmax(dim=1).cpu().numpy()
        return np.where(random, actions, greedy)

    def observe(self, transition: Transition) -> None:
        self.replay.add(transition)
        self.steps += len(transition.action)
        if len(self.replay) >= self.config.learning_starts:
            self.steps_since_train += len(transition.action)

    def update(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.steps_since_train >= self.config.train_frequency:
            self.steps_since_train -= self.config.train_frequency
            metrics = self._learn(self.config.gradient_steps)
        if self.steps - self.last_target_update >= self.config.target_update_interval:
            self._update_target()
            self.last_target_update = self.steps
        if metrics:
            metrics["epsilon"] = self.epsilon(self.steps)
        return metrics

    def _learn(self, steps: int) -> dict[str, float]:
        """A burst of `steps` gradient steps against the fixed target net; the last one reports.

        Under uniform replay the batches of several steps are drawn in one call and, unless
        Double DQN's moving online net selects the next actions, their TD targets come from one
        forward pass: the same distribution and the same targets as one step at a time, in far
        fewer operations. Prioritised replay draws each batch after the previous step's
        priority updates.
        """
        c = self.config
        per_draw = 1 if c.replay.prioritized else self.steps_per_draw
        metrics: dict[str, float] = {}
        done = 0
        while done < steps:
            k = min(per_draw, steps - done)
            batch = self.replay.sample(k * c.batch_size, self.rng, self.beta(self.steps))
            obs, next_obs = self._tensor(batch.obs), self._tensor(batch.next_obs)
            action = torch.as_tensor(batch.action, device=self.device, dtype=torch.int64)
            reward, discount = self._tensor(batch.reward), self._tensor(batch.discount)
            target = None if c.double else self._td_target(next_obs, reward, discount)
            for j in range(k):
                rows = slice(j * c.batch_size, (j + 1) * c.batch_size)
                if target is None:
                    y = self._td_target(next_obs[rows], reward[rows], discount[rows])
                else:
                    y = target[rows]
                report = done + j == steps - 1  # .item() would sync a GPU every step
                metrics = self._gradient_step(obs[rows], action[rows], y, batch, report)
            done += k
        return metrics

    def _gradient_step(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        target: torch.Tensor,
        batch: ReplayBatch,
        report: bool,
    ) -> dict[str, float]:
        weight = None
        if self.config.replay.prioritized:  # one batch per draw: `batch` is this step's
            weight = self._tensor(batch.weight)
        if self.backprop is not None:
            with torch.no_grad():
                q_all, activations = self.backprop.forward(obs)
                q = q_all.gather(1, action[:, None]).squeeze(1)
                grad_q = torch.zeros_like(q_all)
                grad_q.scatter_(1, action[:, None], self._loss_grad(q, target, weight)[:, None])
                self.backprop.backward(grad_q, activations)
        else:
            q = self.online(obs).gather(1, action[:, None]).squeeze(1)
            self.grad.zero_()
            self._loss(q, target, weight).backward()
            q = q.detach()
        if weight is not None:
            self.replay.update_priorities(batch.index, (target - q).abs().cpu().numpy())
        grad_norm = clip_grad_norm([self.grad], self.max_grad_norm)
        optimizer_step(self.optimizer)
        self.updates += 1
        if not report:
            return {}
        with torch.no_grad():
            loss = self._loss(q, target, weight)
        # NaN parameters keep the loss NaN up to this check
        check_finite_loss(loss.item(), "DQN", f"step {self.steps} (update {self.updates})")
        return {
            "loss": loss.item(),
            "q_mean": q.mean().item(),
            "td_abs": (target - q).abs().mean().item(),
            "grad_norm": grad_norm.item(),
        }

    def _loss(
        self, q: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """Huber or squared TD error, averaged over the batch (importance-weighted under PER)."""
        loss = nn.functional.mse_loss if self.config.loss == "mse" else nn.functional.huber_loss
        if weight is None:
            return loss(q, target)
        return (weight * loss(q, target, reduction="none")).mean()

    def _loss_grad(
        self, q: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """d`_loss`/dq per sample: what autograd would give for the same loss."""
        td = q - target
        grad = td.mul_(2.0) if self.config.loss == "mse" else td.clamp_(-1.0, 1.0)
        if weight is not None:
            grad.mul_(weight)
        return grad.div_(len(q))

    def _q_values(self, obs: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Q-values of the online (or target) net, through the hand-written pass when in use."""
        backprop = self.target_backprop if target else self.backprop
        if backprop is not None:
            return backprop.forward(obs)[0]
        q: torch.Tensor = (self.target if target else self.online)(obs)
        return q

    @torch.no_grad()
    def _td_target(
        self,
        next_obs: torch.Tensor,
        reward: torch.Tensor | np.ndarray,
        discount: torch.Tensor | np.ndarray,
    ) -> torch.Tensor:
        """y = r + discount * Q_target(s', a*), a* = argmax Q_online (double) or Q_target."""
        next_q = self._q_values(next_obs, target=True)
        if self.config.double:
            best = self._q_values(next_obs).argmax(dim=1, keepdim=True)
        else:
            best = next_q.argmax(dim=1, keepdim=True)
        next_value = next_q.gather(1, best).squeeze(1)
        r = torch.as_tensor(reward, device=self.device)
        d = torch.as_tensor(discount, device=self.device)
        target: torch.Tensor = r + d * next_value
        return target

    def _update_target(self) -> None:
        tau = self.config.tau
        with torch.no_grad():
            if tau < 1.0:
                self.target_flat.lerp_(self.flat, tau)
            else:
                self.target_flat.copy_(self.flat)

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=self.device)

    def state_dict(self) -> dict[str, Any]:
        state = {
            **super().state_dict(),
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "counters": [self.steps, self.updates, self.steps_since_train, self.last_target_update],
        }
        if self.config.checkpoint_replay:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        optimizer = flat_optimizer_state(copy.deepcopy(state["optimizer"]))  # no shared tensors
        self.optimizer.load_state_dict(optimizer)
        counters = state["counters"]
        self.steps, self.updates, self.steps_since_train, self.last_target_update = counters
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
