"""Policy-gradient building blocks: the shared config, policy and value heads over one or two
trunks, Categorical and diagonal-Gaussian action distributions, acting and optimizing."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlkit.agent import EnvSpec
from rlkit.errors import ConfigError, SpaceError
from rlkit.nn.flat import FlatParameters
from rlkit.nn.networks import MLPTrunk, NetworkKind, build_trunk
from rlkit.nn.numpy_mlp import Layer, mlp_forward, numpy_layers
from rlkit.nn.optim import clip_grad_norm, optimizer_step
from rlkit.replay import available_memory

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def batch_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A numpy batch as a tensor on `device`, float64 narrowed to float32 (networks' dtype)."""
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return torch.as_tensor(array, device=device)


def rollout_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A (T, N, ...) rollout array as one (T * N, ...) batch tensor on `device`."""
    return batch_tensor(array.reshape(-1, *array.shape[2:]), device)


def state_values(net: ActorCritic, obs: np.ndarray, device: torch.device) -> np.ndarray:
    """V(obs) of a numpy batch as numpy, without gradients."""
    with torch.no_grad():
        values: np.ndarray = net.values(batch_tensor(obs, device)).cpu().numpy()
    return values


@dataclass
class PolicyGradientConfig:
    """Settings shared by the policy-gradient agents (REINFORCE, A2C)."""

    network: NetworkKind = "auto"
    """Trunk: auto picks the Nature CNN for stacked uint8 frames, the MinAtar CNN for boolean
    grids, an MLP otherwise."""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """MLP hidden layer sizes (vector observations)."""
    activation: Literal["relu", "tanh"] = "tanh"
    """MLP activation."""
    shared_trunk: bool = False
    """One trunk under both the policy and the value head (else one trunk each)."""
    orthogonal_init: bool = True
    """Orthogonal weights (gain sqrt 2 in trunks, 0.01 policy head, 1 value head), zero biases."""
    learning_rate: float = 7e-4
    """Optimizer step size (of the policy's parameters, and the value's unless set below)."""
    critic_learning_rate: float | None = None
    """Step size of the value trunk and head (separate trunks only; None: learning_rate)."""
    lr_decay_steps: int = 0
    """Decay the learning rates linearly to 0 over this many env steps (0: constant)."""
    optimizer: Literal["adam", "rmsprop"] = "rmsprop"
    """RMSprop (alpha 0.99, as in SB3 and OpenAI Baselines) or Adam."""
    optimizer_eps: float = 1e-5
    """Epsilon of the optimizer's denominator."""
    gamma: float = 0.99
    """Discount factor."""
    value_coef: float = 0.5
    """Weight of the value (critic or baseline) MSE loss."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Gradient-norm clipping (0: off)."""
    normalize_observations: bool = False
    """Normalise observations by their running mean and std, clipped (A2C, PPO; as SB3's
    VecNormalize); the statistics are saved in checkpoints and frozen at evaluation."""
    normalize_rewards: bool = False
    """Scale rewards by the running std of the discounted return (A2C, PPO; as VecNormalize)."""
    normalization_clip: float = 10.0
    """Normalised observations and scaled rewards are clipped to +-this."""
    log_std_init: float | None = None
    """Box actions only: initial log std of the Gaussian policy (None: 0.0)."""
    device: str = "auto"
    """auto: CUDA when present, else CPU."""
    manual_backward: bool = True
    """MLPs on the CPU: forward and backward written by hand instead of autograd's (the same
    gradients up to float rounding, in about half the time; CNNs and CUDA use autograd)."""

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.critic_learning_rate is not None and not self.critic_learning_rate > 0:
            raise ValueError(f"critic_learning_rate must be > 0, got {self.critic_learning_rate}")
        if self.critic_learning_rate is not None and self.shared_trunk:
            raise ValueError("critic_learning_rate needs shared_trunk = false (separate trunks)")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        for name in ("value_coef", "entropy_coef", "max_grad_norm", "lr_decay_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.optimizer_eps > 0:
            raise ValueError(f"optimizer_eps must be > 0, got {self.optimizer_eps}")
        if not self.normalization_clip > 0:
            raise ValueError(f"normalization_clip must be > 0, got {self.normalization_clip}")
        if any(size < 1 for size in self.hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden}")


def check_policy_spaces(spec: EnvSpec, agent: str) -> None:
    """Raise SpaceError unless observations are a Box and actions Discrete or a Box."""
    if not isinstance(spec.observation_space, gym.spaces.Box):
        raise SpaceError(
            f"agent {agent!r} needs Box observations; {spec.env_id} has "
            f"{spec.observation_space} (for Discrete observations use 'tabular')"
        )
    actions = spec.action_space
    if not isinstance(actions, gym.spaces.Discrete | gym.spaces.Box) or (
        isinstance(actions, gym.spaces.Discrete) and int(actions.start) != 0
    ):
        raise SpaceError(
            f"agent {agent!r} needs Discrete actions from 0 or Box actions; {spec.env_id} has "
            f"{actions}"
        )


def check_box_only_options(config: PolicyGradientConfig, spec: EnvSpec, agent: str) -> None:
    """Raise SpaceError if an option that only means something for Box actions is set."""
    if config.log_std_init is not None and not isinstance(spec.action_space, gym.spaces.Box):
        raise SpaceError(
            f"agent.log_std_init applies to Box (continuous) actions only; {spec.env_id} has "
            f"{spec.action_space}: remove it for agent {agent!r}"
        )


class CategoricalHead(nn.Module):
    """Logits over a Discrete action space."""

    def __init__(self, features: int, num_actions: int) -> None:
        super().__init__()
        self.linear = nn.Linear(features, num_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(features)
        return out

    def log_prob_entropy(
        self, logits: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a|s) of the taken actions and the entropy, one per row."""
        log_probs = torch.log_softmax(logits, dim=1)
        taken = log_probs.gather(1, actions.long().view(-1, 1)).squeeze(1)
        entropy = -(log_probs.exp() * log_probs).sum(dim=1)
        return taken, entropy

    @torch.no_grad()
    def backward(
        self,
        logits: torch.Tensor,
        actions: torch.Tensor,
        entropy: torch.Tensor,
        grad_log_prob: torch.Tensor,
        grad_entropy: torch.Tensor | None,
    ) -> torch.Tensor:
        """dLoss/dlogits given dLoss/dlog pi(a|s) and dLoss/dentropy (None: 0), one per row,
        and the entropy `log_prob_entropy` gave: d log pi(a)/dlogits = onehot(a) - p and
        dH/dlogits = -p (log p + H)."""
        log_probs = torch.log_softmax(logits, dim=1)
        probs = log_probs.exp()
        g_log_prob = grad_log_prob.view(-1, 1)
        grad = probs * -g_log_prob
        grad.scatter_add_(1, actions.long().view(-1, 1), g_log_prob)
        if grad_entropy is not None:
            grad -= grad_entropy.view(-1, 1) * probs * (log_probs + entropy.view(-1, 1))
        return grad

    def sample(self, logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw one action per row (Gumbel-max: argmax of logits plus Gumbel noise)."""
        gumbel = -np.log(-np.log(rng.random(logits.shape)))
        actions: np.ndarray = (logits + gumbel).argmax(axis=1)
        return actions

    def mode(self, logits: np.ndarray) -> np.ndarray:
        """The most likely action of each row."""
        actions: np.ndarray = logits.argmax(axis=1)
        return actions


class GaussianHead(nn.Module):
    """Diagonal Gaussian over flattened Box actions: a linear mean and a learned log-std
    that does not depend on the state."""

    def __init__(self, features: int, action_dim: int, log_std_init: float) -> None:
        super().__init__()
        self.linear = nn.Linear(features, action_dim)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(features)
        return out

    def log_prob_entropy(
        self, mean: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a|s) of the taken (unclipped) actions and the entropy, one per row."""
        z = (actions.view_as(mean) - mean) * torch.exp(-self.log_std)
        log_prob = (-0.5 * z.pow(2) - self.log_std - _HALF_LOG_2PI).sum(dim=1)
        entropy = (self.log_std + 0.5 + _HALF_LOG_2PI).sum().expand(mean.shape[0])
        return log_prob, entropy

    @torch.no_grad()
    def backward(
        self,
        mean: torch.Tensor,
        actions: torch.Tensor,
        entropy: torch.Tensor,
        grad_log_prob: torch.Tensor,
        grad_entropy: torch.Tensor | None,
    ) -> torch.Tensor:
        """dLoss/dmean given dLoss/dlog pi(a|s) and dLoss/dentropy (None: 0), one per row;
        writes the log-std's gradient into its .grad. With z = (a - mean) / std:
        d log pi/dmean = z / std, d log pi/dlog_std = z^2 - 1, dH/dlog_std = 1."""
        del entropy  # the Gaussian's entropy gradient does not depend on it
        inverse_std = torch.exp(-self.log_std)
        z = (actions.view_as(mean) - mean) * inverse_std
        g_log_prob = grad_log_prob.view(-1, 1)
        assert self.log_std.grad is not None
        torch.sum(g_log_prob * (z.pow(2) - 1.0), dim=0, out=self.log_std.grad)
        if grad_entropy is not None:
            self.log_std.grad += grad_entropy.sum()
        return g_log_prob * z * inverse_std

    def sample(self, mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw one action per row: mean + std * N(0, 1)."""
        std = np.exp(self.log_std.detach().cpu().numpy())  # numpy: cheaper per call than torch
        noise = rng.standard_normal(mean.shape).astype(mean.dtype)
        sampled: np.ndarray = mean + std * noise
        return sampled

    def mode(self, mean: np.ndarray) -> np.ndarray:
        """The mean."""
        return mean


PolicyHead = CategoricalHead | GaussianHead


class ActorCritic(nn.Module):
    """A policy head and an optional value head, over one shared trunk or one trunk each."""

    def __init__(
        self,
        actor_trunk: nn.Module,
        head: PolicyHead,
        critic_trunk: nn.Module | None,
        value_head: nn.Linear | None,
    ) -> None:
        super().__init__()
        self.actor_trunk, self.head = actor_trunk, head
        self.critic_trunk, self.value_head = critic_trunk, value_head
        self.flat_groups: list[FlatParameters] = []

    def policy_params(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits (Discrete) or means (Box) of pi(.|obs)."""
        out: torch.Tensor = self.head(self.actor_trunk(obs))
        return out

    def values(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs), one per row."""
        assert self.value_head is not None, "this policy has no value head"
        trunk = self.critic_trunk if self.critic_trunk is not None else self.actor_trunk
        out: torch.Tensor = self.value_head(trunk(obs)).squeeze(1)
        return out

    def policy_params_and_values(
        self, obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """pi(.|obs)'s logits or means and V(obs) (None without a value head); one trunk pass
        if shared."""
        features = self.actor_trunk(obs)
        params: torch.Tensor = self.head(features)
        if self.value_head is None:
            return params, None
        if self.critic_trunk is not None:
            features = self.critic_trunk(obs)
        return params, self.value_head(features).squeeze(1)

    def evaluate(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """log pi(a|s), entropy and V(s) (None without a value head); one trunk pass if shared."""
        params, values = self.policy_params_and_values(obs)
        log_prob, entropy = self.head.log_prob_entropy(params, actions)
        return log_prob, entropy, values

    def critic_parameters(self) -> list[nn.Parameter]:
        """Parameters only the value loss trains (empty without a separate value trunk)."""
        if self.critic_trunk is None or self.value_head is None:
            return []
        return [*self.critic_trunk.parameters(), *self.value_head.parameters()]

    def flatten_parameters(self, separate_critic: bool) -> None:
        """Put the parameters into one buffer (two with `separate_critic`: the value-only part
        apart, for its own learning rate). Call once the network is on its device."""
        critic = self.critic_parameters() if separate_critic else []
        critic_ids = {id(p) for p in critic}
        main = [p for p in self.parameters() if id(p) not in critic_ids]
        self.flat_groups = [FlatParameters(group) for group in (main, critic) if group]


def build_actor_critic(
    config: PolicyGradientConfig,
    spec: EnvSpec,
    with_value: bool,
    device: torch.device = torch.device("cpu"),  # noqa: B008 - an immutable default
) -> ActorCritic:
    """The network for `spec`'s spaces on `device` with flattened parameters (do not move it
    afterwards): trunk(s) from rlkit.nn.networks, heads for its actions."""
    space, actions = spec.observation_space, spec.action_space

    def trunk() -> nn.Module:
        return build_trunk(space, config.network, config.hidden, config.activation)

    actor_trunk = trunk()
    features: int = actor_trunk.out_features  # type: ignore[assignment]
    head: PolicyHead
    if isinstance(actions, gym.spaces.Discrete):
        head = CategoricalHead(features, int(actions.n))
    else:
        assert isinstance(actions, gym.spaces.Box)
        log_std = 0.0 if config.log_std_init is None else config.log_std_init
        head = GaussianHead(features, math.prod(actions.shape), log_std)
    critic_trunk = trunk() if with_value and not config.shared_trunk else None
    value_head = nn.Linear(features, 1) if with_value else None
    net = ActorCritic(actor_trunk, head, critic_trunk, value_head)
    if config.orthogonal_init:
        _orthogonal_init(net)
    net.to(device).flatten_parameters(separate_critic=config.critic_learning_rate is not None)
    return net


def _orthogonal_init(net: ActorCritic) -> None:
    """SB3/Baselines initialisation: sqrt(2) in trunks, 0.01 for the policy, 1 for the value."""
    parts: list[tuple[nn.Module | None, float]] = [
        (net.actor_trunk, math.sqrt(2)),
        (net.critic_trunk, math.sqrt(2)),
        (net.head, 0.01),
        (net.value_head, 1.0),
    ]
    for module, gain in parts:
        if module is None:
            continue
        for layer in module.modules():
            if isinstance(layer, nn.Linear | nn.Conv2d):
                nn.init.orthogonal_(layer.weight, gain=gain)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)


def numpy_policy(net: ActorCritic, device: torch.device) -> list[Layer] | None:
    """The policy of `net` as numpy layers (views of its parameters), or None unless it is an
    MLP on the CPU."""
    if device.type != "cpu" or not isinstance(net.actor_trunk, MLPTrunk):
        return None
    return numpy_layers([*net.actor_trunk.body, net.head.linear])


class ActedOutputs(NamedTuple):
    """What the acting forward pass already knew of its actions: log pi(a|s) and V(s)."""

    log_prob: np.ndarray
    value: np.ndarray


class KeptForward(NamedTuple):
    """An acting forward pass kept with its graph: pi's parameters and V(s), not detached."""

    params: torch.Tensor
    values: torch.Tensor | None


@dataclass
class Acting:
    """What one vector step's exploring acts sent and kept, for the step's observe to use."""

    sources: list[np.ndarray]
    """The observation arrays acted on (each the whole step's, or views of its rows)."""
    sent: np.ndarray
    """The actions sent to the env."""
    taken: np.ndarray
    """The actions to score: the unclipped samples behind `sent` (Box), else `sent`."""
    outputs: ActedOutputs | None = None
    kept: KeptForward | None = None

    def acted_on(self, obs: np.ndarray) -> bool:
        """Whether these acts were on `obs` itself (one act) or on views of its rows."""
        if len(self.sources) == 1:
            return self.sources[0] is obs
        return all(part.base is obs for part in self.sources)

    @classmethod
    def join(cls, parts: list[Acting]) -> Acting:
        """One Acting of the acts on consecutive row blocks of one step, in row order."""
        if len(parts) == 1:
            return parts[0]
        outputs = [p.outputs for p in parts if p.outputs is not None]
        kept = [p.kept for p in parts if p.kept is not None]
        values = [k.values for k in kept if k.values is not None]
        return cls(
            [source for p in parts for source in p.sources],
            np.concatenate([p.sent for p in parts]),
            np.concatenate([p.taken for p in parts]),
            ActedOutputs(
                np.concatenate([o.log_prob for o in outputs]),
                np.concatenate([o.value for o in outputs]),
            )
            if len(outputs) == len(parts)
            else None,
            KeptForward(
                torch.cat([k.params for k in kept]),
                torch.cat(values) if len(values) == len(parts) else None,
            )
            if len(kept) == len(parts)
            else None,
        )


class PolicySampler:
    """Acts with an ActorCritic's policy: samples (explore) or takes the mode, clips Box actions
    to the bounds, and remembers the unclipped samples so the update uses their log-probs.

    On the torch path (CNNs, CUDA) an exploring step can keep what its forward pass computed,
    so the update need not run the network over the rollout again (the numpy MLP path keeps
    nothing: on an MLP that costs little):
    - `record_outputs` (PPO): the sampled actions' log-probs and V(s), as numpy;
    - `keep_graph` (A2C, whose one gradient step uses the acting parameters): pi's parameters
      and V(s) with their autograd graph, for the update to backpropagate through.
    A vector step may be acted on in row blocks (rlkit.rollout steps the halves of a paired env
    while acting on the other half): `consume` joins the newest acts that make up the step.
    """

    PENDING = 8
    """Exploring acts remembered until a step consumes them (row blocks of one step)."""

    def __init__(
        self,
        net: ActorCritic,
        action_space: gym.Space[Any],
        device: torch.device,
        record_outputs: bool = False,
        keep_graph: bool = False,
    ):
        self.net, self.device = net, device
        self.numpy_policy = numpy_policy(net, device)
        self.box = action_space if isinstance(action_space, gym.spaces.Box) else None
        self.record_outputs = record_outputs and net.value_head is not None
        self.keep_graph = keep_graph
        self._pending: list[Acting] = []

    def policy_params(self, obs: np.ndarray) -> np.ndarray:
        """Logits or means of pi(.|obs) as numpy, from numpy observations."""
        if self.numpy_policy is not None:
            return mlp_forward(self.numpy_policy, obs)
        with torch.inference_mode():
            params = self.net.policy_params(batch_tensor(obs, self.device))
        array: np.ndarray = params.cpu().numpy()
        return array

    def act(
        self,
        obs: np.ndarray,
        explore: bool,
        rng: np.random.Generator,
        source: np.ndarray | None = None,
    ) -> np.ndarray:
        """One action per row of `obs`, ready for the env; `source` is the array the env gave
        (`obs` before any normalisation), for `Acting.acted_on`."""
        if not explore:
            self._pending.clear()
        torch_path = explore and self.numpy_policy is None
        recording, keeping = explore and self.records, torch_path and self.keep_graph
        if recording or keeping:
            with torch.inference_mode(not keeping):
                params, values = self.net.policy_params_and_values(batch_tensor(obs, self.device))
            array: np.ndarray = params.detach().cpu().numpy()
        else:
            array = self.policy_params(obs)
        head = self.net.head
        actions = head.sample(array, rng) if explore else head.mode(array)
        sent = sampled = actions
        if self.box is not None:
            sampled = actions.reshape(len(obs), *self.box.shape).astype(self.box.dtype, copy=False)
            sent = np.clip(sampled, self.box.low, self.box.high)
        if not explore:
            return sent
        acting = Acting([obs if source is None else source], sent, sampled)
        if recording:
            assert values is not None
            with torch.inference_mode():
                taken = torch.as_tensor(actions, device=self.device)
                log_prob, _ = head.log_prob_entropy(params, taken)
            acting.outputs = ActedOutputs(log_prob.cpu().numpy(), values.cpu().numpy())
        if keeping:
            acting.kept = KeptForward(params, values)
        self._pending.append(acting)
        del self._pending[: -self.PENDING]
        return sent

    @property
    def records(self) -> bool:
        """Whether exploring steps record their outputs (`record_outputs` on the torch path)."""
        return self.record_outputs and self.numpy_policy is None

    def consume(self, actions: np.ndarray) -> Acting | None:
        """The newest exploring acts whose rows make up `actions`, joined, if they sent exactly
        `actions` (None otherwise); forgets every act so far."""
        pending, self._pending = self._pending, []
        rows, parts = 0, list[Acting]()
        for acting in reversed(pending):
            if rows >= len(actions):
                break
            parts.insert(0, acting)
            rows += len(acting.sent)
        if rows != len(actions) or not parts:
            return None
        joined = Acting.join(parts)
        return joined if np.array_equal(joined.sent, actions) else None

    def taken(self, actions: np.ndarray) -> np.ndarray:
        """The actions to score: the unclipped samples behind `actions` if they were ours."""
        acting = self.consume(actions)
        return actions if acting is None else acting.taken


def check_rollout_memory(n_steps: int, spec: EnvSpec) -> None:
    """ConfigError if a rollout's observations and next observations (n_steps x num_envs of
    each) would not fit in the memory available now, before anything is allocated."""
    space = spec.observation_space
    per_obs = int(np.prod(space.shape or ())) * np.dtype(space.dtype or np.float32).itemsize
    needed, available = 2 * n_steps * spec.num_envs * per_obs, available_memory()
    if available is not None and needed > available:
        raise ConfigError(
            f"agent.n_steps={n_steps:,} x env.num_envs={spec.num_envs}: the rollout's "
            f"observations need {needed / 1e9:,.2f} GB but only {available / 1e9:,.2f} GB of "
            "memory is available; choose fewer steps or envs"
        )


def build_optimizer(net: ActorCritic, config: PolicyGradientConfig) -> torch.optim.Optimizer:
    """Adam or RMSprop over the network's flat parameter groups (the value-only group, if any,
    at critic_learning_rate)."""
    rates = [config.learning_rate, config.critic_learning_rate or config.learning_rate]
    groups: list[dict[str, Any]] = [
        {"params": [group.data], "lr": lr, "initial_lr": lr}
        for group, lr in zip(net.flat_groups, rates, strict=False)
    ]
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, alpha=0.99, eps=config.optimizer_eps)
    return torch.optim.Adam(groups, eps=config.optimizer_eps, fused=True)


def decay_learning_rate(optimizer: torch.optim.Optimizer, step: int, decay_steps: int) -> float:
    """Set every group's lr to initial_lr * (1 - step / decay_steps), floored at 0; return the
    first group's lr (unchanged when decay_steps is 0)."""
    if decay_steps > 0:
        fraction = max(1.0 - step / decay_steps, 0.0)
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * fraction
    return float(optimizer.param_groups[0]["lr"])


def clip_and_step(
    optimizer: torch.optim.Optimizer, net: ActorCritic, max_grad_norm: float
) -> torch.Tensor:
    """Clip the gradient norm of the flat buffers (0: no clipping) and step; return the norm
    before clipping (clipped as torch.nn.utils.clip_grad_norm_ does)."""
    norm = clip_grad_norm(
        [group.grad for group in net.flat_groups if group.grad is not None], max_grad_norm
    )
    optimizer_step(optimizer)
    return norm
