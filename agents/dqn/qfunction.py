"""A Q-network as DQN uses it, through autograd or through a hand-written pass for small nets.

DQN asks four things of a Q-network (`QFunction`): Q-values to act on (numpy in, numpy out),
Q-values to bootstrap from (no gradients), and a forward and a backward pass to learn from
(the backward given dLoss/dQ). `AutogradQFunction` runs any network on any device through its
module and autograd. `ManualQFunction` serves a CPU `QNetwork` of an `MLPTrunk` or a
`MinAtarCNN` under single layer Q-head streams without autograd (the trunk through
`rlkit.nn.manual_mlp` or `rlkit.nn.manual_conv`, which say why); an MLP one acts through numpy
on the parameters' own memory (a few microseconds a call instead of ~100).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import nn

from rlkit.nn.manual_conv import manual_trunk
from rlkit.nn.manual_mlp import linear, linear_grads
from rlkit.nn.networks import MLPTrunk, QNetwork
from rlkit.nn.numpy_mlp import mlp_forward, numpy_layers

Tape = list[torch.Tensor]
"""What `QFunction.forward` keeps for `QFunction.backward`: autograd's output with its graph,
or the hand-written pass's activations."""


class QFunction(ABC):
    """A Q-network's passes as DQN uses them; Q-values are (batch, actions)."""

    @abstractmethod
    def act_q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q(s, .) of a batch of observations, to act on."""

    @abstractmethod
    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q(s, .) without gradients: the values TD targets bootstrap from."""

    @abstractmethod
    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, Tape]:
        """Q(s, .) to learn from (no graph attached) and what `backward` needs."""

    @abstractmethod
    def backward(self, grad_q: torch.Tensor, tape: Tape) -> None:
        """Write dLoss/dparameter into each parameter's `.grad`, replacing what was there,
        given dLoss/dQ (batch, actions) of the `forward` that returned `tape`."""


def q_function(net: QNetwork, grad: torch.Tensor | None, manual_backward: bool) -> QFunction:
    """The hand-written pass for a CPU MLP or MinAtar-CNN Q-network when `manual_backward`,
    autograd otherwise.

    `grad` is the buffer holding the parameters' gradients (autograd accumulates into it, so it
    is zeroed before each backward pass); None for a network that is never trained directly.
    """
    on_cpu = all(p.device.type == "cpu" for p in net.parameters())
    if manual_backward and on_cpu and ManualQFunction.supports(net):
        return ManualQFunction(net)
    return AutogradQFunction(net, grad)


class AutogradQFunction(QFunction):
    """Any Q-network on any device, through its module's forward and autograd's backward."""

    def __init__(self, net: nn.Module, grad: torch.Tensor | None) -> None:
        self.net, self.grad = net, grad
        self.device = next(net.parameters()).device

    def act_q_values(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            q: torch.Tensor = self.net(torch.as_tensor(obs, device=self.device))
        return q.cpu().numpy()

    @torch.no_grad()
    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        q: torch.Tensor = self.net(obs)
        return q

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, Tape]:
        q: torch.Tensor = self.net(obs)
        return q.detach(), [q]

    def backward(self, grad_q: torch.Tensor, tape: Tape) -> None:
        assert self.grad is not None, "this Q-function has no gradient buffer"
        self.grad.zero_()
        (q,) = tape
        q.backward(grad_q)


class ManualQFunction(QFunction):
    """Forward and backward of a `QNetwork` made of an `MLPTrunk` or a `MinAtarCNN` and a
    linear (or dueling linear) Q head, by hand: the products autograd would compute, without
    the graph; an MLP acts through numpy views of the same (CPU) parameter memory.

    The tape is the trunk's (`ManualMLP`'s or `ManualMinAtarCNN`'s); its last entry is the
    trunk's output.
    """

    def __init__(self, net: QNetwork) -> None:
        if not self.supports(net):
            raise ValueError(
                "ManualQFunction needs an MLPTrunk or MinAtarCNN and single-layer Q head streams"
            )
        trunk, head = net.trunk, net.head
        manual = manual_trunk(trunk)
        assert manual is not None
        self.trunk = manual
        assert isinstance(head.advantage, nn.Linear)
        self.advantage: nn.Linear = head.advantage
        self.value: nn.Linear | None = head.value if isinstance(head.value, nn.Linear) else None
        self.numpy_layers = numpy_layers(list(trunk.body)) if isinstance(trunk, MLPTrunk) else None
        self.numpy_heads = numpy_layers([m for m in (self.advantage, self.value) if m])

    @staticmethod
    def supports(net: nn.Module) -> bool:
        """True for an MLP trunk (relu or tanh) or the MinAtar CNN under plain or dueling
        single-layer streams."""
        if not isinstance(net, QNetwork) or manual_trunk(net.trunk) is None:
            return False
        head = net.head
        return isinstance(head.advantage, nn.Linear) and (
            head.value is None or isinstance(head.value, nn.Linear)
        )

    def act_q_values(self, obs: np.ndarray) -> np.ndarray:
        """The Q-values `forward` gives: for an MLP computed in numpy on the same parameter
        memory, for the CNN by the hand-written forward pass."""
        if self.numpy_layers is None:
            q: np.ndarray = self.forward(torch.as_tensor(obs))[0].numpy()
            return q
        features = mlp_forward(self.numpy_layers, obs)
        advantage = mlp_forward(self.numpy_heads[:1], features)
        if self.value is None:
            return advantage
        value = mlp_forward(self.numpy_heads[1:], features)
        q = value + advantage - advantage.mean(axis=1, keepdims=True)
        return q

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.forward(obs)[0]

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, Tape]:
        activations = self.trunk.forward(obs)
        features = activations[-1]
        advantage = linear(self.advantage, features)
        if self.value is None:
            return advantage, activations
        value = linear(self.value, features)
        return value + advantage - advantage.mean(dim=1, keepdim=True), activations

    @torch.no_grad()
    def backward(self, grad_q: torch.Tensor, tape: Tape) -> None:
        features = tape[-1]
        grad_advantage = grad_q
        if self.value is not None:  # Q = V + A - mean(A): dV = sum dQ, dA = dQ - mean dQ
            grad_value = grad_q.sum(dim=1, keepdim=True)
            grad_advantage = grad_q - grad_q.mean(dim=1, keepdim=True)
            linear_grads(self.value, grad_value, features)
        linear_grads(self.advantage, grad_advantage, features)
        if not self.trunk.layers:
            return
        grad_x = grad_advantage.mm(self.advantage.weight)
        if self.value is not None:
            grad_x.addmm_(grad_value, self.value.weight)
        self.trunk.backward(grad_x, tape)
