"""An actor-critic's forward and backward passes as the policy-gradient agents learn from them.

A policy-gradient loss depends on the network only through three outputs per sample: the
log-probability of the taken action, the policy's entropy and the value. The agents compute the
loss's gradient with respect to those outputs in closed form (pure functions next to each loss),
and a pass turns it into the parameters' gradients, written into the flat gradient buffers
(replacing what was there). `AutogradPass` runs any ActorCritic on any device through its modules
and autograd; `ManualPass` serves a CPU actor-critic of MLP or MinAtar-CNN trunks without
autograd, through `rlkit.nn.manual_mlp` and `rlkit.nn.manual_conv` (about half the time of
autograd for the small networks of classic control and MinAtar, where per-operation overhead,
not arithmetic, is most of a step).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from rlkit.agents.pg.losses import OutputGradients
from rlkit.agents.pg.policies import ActorCritic
from rlkit.nn.manual_conv import manual_trunk
from rlkit.nn.manual_mlp import Activations, linear, linear_grads


@dataclass
class Outputs:
    """log pi(a|s), the entropy of pi(.|s) and V(s) (None without a value head), one per row,
    detached; and what the pass's backward needs."""

    log_prob: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor | None
    tape: object


class ActorCriticPass(ABC):
    """Forward and backward of an ActorCritic for learning."""

    def __init__(self, net: ActorCritic) -> None:
        self.net = net

    @abstractmethod
    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> Outputs:
        """The outputs for a batch of observations and taken actions."""

    @abstractmethod
    def backward(self, grads: OutputGradients, outputs: Outputs) -> None:
        """Write dLoss/dparameter into the flat gradient buffers, given the outputs' gradients."""


def actor_critic_pass(net: ActorCritic, manual_backward: bool) -> ActorCriticPass:
    """The hand-written pass for a CPU MLP or MinAtar-CNN actor-critic when `manual_backward`,
    else autograd."""
    on_cpu = all(p.device.type == "cpu" for p in net.parameters())
    if manual_backward and on_cpu and ManualPass.supports(net):
        return ManualPass(net)
    return AutogradPass(net)


class AutogradPass(ActorCriticPass):
    """Any ActorCritic on any device, through its modules and autograd."""

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> Outputs:
        return self.outputs(*self.net.policy_params_and_values(obs), actions)

    def outputs(
        self, params: torch.Tensor, values: torch.Tensor | None, actions: torch.Tensor
    ) -> Outputs:
        """The Outputs of a forward pass already run (policy parameters and values still
        attached to their graph) for the taken `actions`."""
        log_prob, entropy = self.net.head.log_prob_entropy(params, actions)
        tape: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] = (log_prob, entropy, values)
        detached = None if values is None else values.detach()
        return Outputs(log_prob.detach(), entropy.detach(), detached, tape)

    def backward(self, grads: OutputGradients, outputs: Outputs) -> None:
        for group in self.net.flat_groups:
            group.zero_grad()
        assert isinstance(outputs.tape, tuple)
        log_prob, entropy, values = outputs.tape
        tensors: list[torch.Tensor] = [log_prob]
        gradients: list[torch.Tensor] = [grads.log_prob]
        if grads.entropy is not None and entropy.requires_grad:
            tensors.append(entropy)
            gradients.append(grads.entropy)
        if grads.values is not None and values is not None:
            tensors.append(values)
            gradients.append(grads.values)
        torch.autograd.backward(tensors, gradients)


@dataclass
class _Tape:
    """What ManualPass.forward keeps: trunk activations, the policy head's output, actions."""

    actor: Activations
    policy_params: torch.Tensor
    actions: torch.Tensor
    critic: Activations | None = None
    critic_features: torch.Tensor | None = None


class ManualPass(ActorCriticPass):
    """An ActorCritic of MLP or MinAtar-CNN trunks (shared or separate) under a Categorical or
    Gaussian head and a linear value head, run by hand on the CPU."""

    def __init__(self, net: ActorCritic) -> None:
        actor = manual_trunk(net.actor_trunk)
        critic = None if net.critic_trunk is None else manual_trunk(net.critic_trunk)
        if actor is None or (net.critic_trunk is not None and critic is None):
            raise ValueError("ManualPass needs MLP (Linear, ReLU, Tanh) or MinAtar-CNN trunks")
        super().__init__(net)
        self.actor, self.critic = actor, critic

    @staticmethod
    def supports(net: ActorCritic) -> bool:
        """True for MLP trunks of Linear, ReLU and Tanh layers, or MinAtar CNNs."""
        return manual_trunk(net.actor_trunk) is not None and (
            net.critic_trunk is None or manual_trunk(net.critic_trunk) is not None
        )

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> Outputs:
        net = self.net
        actor = self.actor.forward(obs)
        params = linear(net.head.linear, actor[-1])
        log_prob, entropy = net.head.log_prob_entropy(params, actions)
        tape = _Tape(actor, params, actions)
        values = None
        if net.value_head is not None:
            if self.critic is not None:
                tape.critic = self.critic.forward(obs)
            tape.critic_features = actor[-1] if tape.critic is None else tape.critic[-1]
            values = linear(net.value_head, tape.critic_features).squeeze(1)
        return Outputs(log_prob, entropy, values, tape)

    @torch.no_grad()
    def backward(self, grads: OutputGradients, outputs: Outputs) -> None:
        net, tape = self.net, outputs.tape
        assert isinstance(tape, _Tape)
        grad_params = net.head.backward(
            tape.policy_params, tape.actions, outputs.entropy, grads.log_prob, grads.entropy
        )
        linear_grads(net.head.linear, grad_params, tape.actor[-1])
        grad_features = grad_params.mm(net.head.linear.weight)
        if net.value_head is not None:
            assert tape.critic_features is not None
            if grads.values is None:
                grad_values = torch.zeros_like(tape.critic_features[:, :1])
            else:
                grad_values = grads.values.view(-1, 1)
            linear_grads(net.value_head, grad_values, tape.critic_features)
            grad_critic = grad_values.mm(net.value_head.weight)
            if self.critic is None:
                grad_features += grad_critic
            else:
                assert tape.critic is not None
                self.critic.backward(grad_critic, tape.critic)
        self.actor.backward(grad_features, tape.actor)
