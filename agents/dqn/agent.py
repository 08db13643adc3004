"""DQN with the options that make Double DQN, Dueling DQN and their combination.

The agent follows the paper's loop: act epsilon-greedily on the online Q-network (`act`), store
each transition in the replay memory (`observe`), and every `train_frequency` steps (`update`)
sample batches (`_learn`), compute the TD targets from the target network (`_td_target`; Double
DQN lets the online network choose the next action) and take a gradient step on the TD loss
(`_gradient_step`); every `target_update_interval` steps the target network moves towards the
online one (`_update_target`). The maths are pure functions in `rlkit.agents.dqn.td`; the
networks' passes sit behind `rlkit.agents.dqn.qfunction.QFunction` (autograd, or a hand-written
pass for MLPs on a CPU).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from rlkit.agent import DEEP_Q, Agent, EnvSpec, Transition, register_agent
from rlkit.agents.dqn.optimizer import flat_optimizer_state, make_optimizer
from rlkit.agents.dqn.qfunction import q_function
from rlkit.agents.dqn.td import TDLoss, td_loss, td_loss_grad, td_target
from rlkit.errors import SpaceError
from rlkit.nn.flat import FlatParameters
from rlkit.nn.networks import (
    NetworkKind,
    QHead,
    QNetwork,
    build_trunk,
    is_image_space,
    resolve_device,
)
from rlkit.nn.optim import check_finite_loss, clip_grad_norm, optimizer_step
from rlkit.replay import ReplayConfig, build_replay
from rlkit.schedules import ScheduleConfig, build_schedule


@dataclass
class DQNConfig:
    """Every DQN knob; `double` and `dueling` select the variant."""

    double: bool = False
    """Double DQN: the online net selects the next action, the target net evaluates it."""
    dueling: bool = False
    """Dueling head: Q = V + A - mean over actions of A (per sample)."""
    network: NetworkKind = "auto"
    """Trunk: auto picks the Nature CNN for stacked uint8 frames, the MinAtar CNN for boolean
    grids, an MLP otherwise."""
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
    rmsprop_centered: bool = False
    """RMSprop only: divide by the gradient's running std instead of its running RMS (the
    MinAtar paper's DQN)."""
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
    loss: TDLoss = "huber"
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
    """MLP Q-networks on a CPU: compute gradients by hand instead of with autograd (the same
    products without the graph; a CartPole gradient step takes about half the time) and act
    through numpy; other networks and devices always use autograd."""
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
        if self.rmsprop_centered and self.optimizer != "rmsprop":
            raise ValueError("rmsprop_centered needs optimizer = 'rmsprop'")
        if self.batch_size > self.replay.capacity:
            raise ValueError(
                f"batch_size must be <= replay.capacity ({self.replay.capacity:,}): a batch is "
                f"drawn from replay, got {self.batch_size:,}"
            )


class Batch(NamedTuple):
    """Replayed transitions as tensors on the agent's device, (B, ...) each."""

    obs: torch.Tensor
    action: torch.Tensor
    """int64."""
    reward: torch.Tensor
    next_obs: torch.Tensor
    discount: torch.Tensor
    """gamma ** n, 0 where the episode terminated within the n steps."""
    weight: torch.Tensor | None
    """Importance weights under prioritised replay; None under uniform replay."""
    slots: np.ndarray
    """Where the rows sit in replay, for priority updates."""

    def rows(self, start: int, stop: int) -> Batch:
        """Rows start to stop (views)."""
        s = slice(start, stop)
        weight = None if self.weight is None else self.weight[s]
        return Batch(
            self.obs[s],
            self.action[s],
            self.reward[s],
            self.next_obs[s],
            self.discount[s],
            weight,
            self.slots[s],
        )


@register_agent("dqn")
class DQNAgent(Agent[DQNConfig]):
    """DQN, Double DQN, Dueling DQN and combinations, with replay and a target network."""

    family = DEEP_Q

    config_class = DQNConfig

    @classmethod
    def warm_up(cls, config: DQNConfig, num_envs: int) -> tuple[int, str]:
        """Steps count towards training from the vector step at which replay holds
        learning_starts transitions (`observe`), and a burst runs once train_frequency of them
        have (`update`); n-step returns can only delay it."""
        filled = max(-(-config.learning_starts // num_envs), 1)  # vector steps
        first = filled + -(-config.train_frequency // num_envs) - 1
        return first * num_envs, (
            f"agent.learning_starts = {config.learning_starts:,}, agent.train_frequency = "
            f"{config.train_frequency:,}"
        )

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
        self.online_q = q_function(self.online, self.grad, config.manual_backward)
        self.target_q = q_function(self.target, None, config.manual_backward)
        self.max_grad_norm = config.max_grad_norm if config.max_grad_norm > 0 else math.inf
        self.optimizer = make_optimizer(
            self.flat,
            config.optimizer,
            config.learning_rate,
            config.optimizer_eps,
            config.rmsprop_centered,
        )
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

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        """Epsilon-greedy: a uniformly random action with probability epsilon, else
        argmax_a Q(s, a) of the online net."""
        epsilon = self.epsilon(self.steps) if explore else self.config.eval_epsilon
        random = self.rng.random(len(obs)) < epsilon
        actions = self.rng.integers(self.num_actions, size=len(obs))
        if random.all():  # early in training every env may act at random: skip the net
            return actions
        greedy = self.online_q.act_q_values(obs).argmax(axis=1)
        return np.where(random, actions, greedy)

    def observe(self, transition: Transition) -> None:
        """Store the transition in replay; steps count towards training once replay holds
        learning_starts transitions."""
        self.replay.add(transition)
        self.steps += len(transition.action)
        if len(self.replay) >= self.config.learning_starts:
            self.steps_since_train += len(transition.action)

    def update(self) -> dict[str, float]:
        """A burst of gradient steps every train_frequency steps, a target update every
        target_update_interval steps; the metrics of the burst, if one ran."""
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
        """`steps` gradient steps, each on its own replayed batch, against the fixed target net;
        the metrics of the last one.

        Under uniform replay the batches of several steps are drawn in one call and, unless
        Double DQN's moving online net selects the next actions, their TD targets come from one
        forward pass: the same distribution and the same targets as one step at a time, in far
        fewer operations. Prioritised replay draws each batch after the previous step's
        priority updates.
        """
        size = self.config.batch_size
        per_draw = 1 if self.config.replay.prioritized else self.steps_per_draw
        done = 0
        while done < steps:
            k = min(per_draw, steps - done)
            draw = self._sample(k * size)
            targets = None if self.config.double else self._td_target(draw)
            for start in range(0, k * size, size):
                batch = draw.rows(start, start + size)
                y = self._td_target(batch) if targets is None else targets[start : start + size]
                q, grad_norm = self._gradient_step(batch, y)
                if batch.weight is not None:  # prioritised replay: new priorities |y - q|
                    self.replay.update_priorities(batch.slots, (y - q).abs().cpu().numpy())
            done += k
        return self._metrics(batch, y, q, grad_norm)

    def _sample(self, size: int) -> Batch:
        """`size` transitions from replay (importance weights under prioritised replay)."""
        batch = self.replay.sample(size, self.rng, self.beta(self.steps))
        weight = self._tensor(batch.weight) if self.config.replay.prioritized else None
        return Batch(
            self._tensor(batch.obs),
            torch.as_tensor(batch.action, device=self.device, dtype=torch.int64),
            self._tensor(batch.reward),
            self._tensor(batch.next_obs),
            self._tensor(batch.discount),
            weight,
            batch.index,
        )

    def _td_target(self, batch: Batch) -> torch.Tensor:
        """y = r + discount * Q_target(s', a*); Double DQN: the online net chooses a*."""
        next_q_online = self.online_q.q_values(batch.next_obs) if self.config.double else None
        next_q_target = self.target_q.q_values(batch.next_obs)
        return td_target(batch.reward, batch.discount, next_q_target, next_q_online)

    def _gradient_step(
        self, batch: Batch, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step down the TD loss's gradient; the taken actions' Q-values before it and the
        gradient norm before clipping."""
        q_all, tape = self.online_q.forward(batch.obs)
        taken = batch.action[:, None]
        q = q_all.gather(1, taken).squeeze(1)
        grad_q = torch.zeros_like(q_all)  # dLoss/dQ(s, .): the taken action's entry only
        grad_q.scatter_(1, taken, td_loss_grad(q, target, self.config.loss, batch.weight)[:, None])
        self.online_q.backward(grad_q, tape)
        grad_norm = clip_grad_norm([self.grad], self.max_grad_norm)
        optimizer_step(self.optimizer)
        self.updates += 1
        return q, grad_norm

    def _update_target(self) -> None:
        """theta_target <- theta (tau 1: a copy), or (1 - tau) theta_target + tau theta."""
        tau = self.config.tau
        with torch.no_grad():
            if tau < 1.0:
                self.target_flat.lerp_(self.flat, tau)
            else:
                self.target_flat.copy_(self.flat)

    def _metrics(
        self, batch: Batch, target: torch.Tensor, q: torch.Tensor, grad_norm: torch.Tensor
    ) -> dict[str, float]:
        """What a gradient step reports (read once per burst: .item() would sync a GPU every
        step); a non-finite loss stops training."""
        loss = td_loss(q, target, self.config.loss, batch.weight).item()
        # NaN parameters keep the loss NaN up to this check
        check_finite_loss(loss, "DQN", f"step {self.steps} (update {self.updates})")
        return {
            "loss": loss,
            "q_mean": q.mean().item(),
            "td_abs": (target - q).abs().mean().item(),
            "grad_norm": grad_norm.item(),
        }

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
