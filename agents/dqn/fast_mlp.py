"""Flat parameter buffers, and a hand-written forward and backward pass for MLP Q-networks.

A small MLP's training step on a CPU is dominated by per-operation overhead, not by its matrix
products: autograd records and replays a graph, every module call goes through hooks, and an
optimizer over many tensors loops over them. Two things remove most of it:

- `rlkit.nn.networks.flatten_parameters` and `flat_gradients` move a module's parameters into one
  buffer and their gradients into another, so zeroing, clipping, the optimizer step and
  target-network updates are one operation each, on one tensor, whatever the network;
  `optimizer_step` then skips `Optimizer.step()`'s per-call bookkeeping;
- `MLPQBackprop` computes an MLP Q-network's gradients with the matrix products autograd would
  run (the same kernels, the same results up to float rounding) without recording a graph, and
  writes them straight into that gradient buffer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rlkit.nn.networks import MLPTrunk, QNetwork
from rlkit.nn.numpy_mlp import mlp_forward, numpy_layers


def flat_optimizer_state(state: dict[str, Any]) -> dict[str, Any]:
    """An optimizer state dict over one flat parameter, from one over its pieces (in order).

    Checkpoints written before the parameters were flattened hold one state per tensor;
    concatenating them gives exactly the state of the flat parameter.
    """
    (group,) = state["param_groups"]
    if len(group["params"]) == 1:
        return state
    per_param = [state["state"][i] for i in group["params"] if i in state["state"]]
    merged: dict[str, Any] = {}
    if per_param:
        for key, value in per_param[0].items():
            pieces = [s[key] for s in per_param]
            merged[key] = value if value.dim() == 0 else torch.cat([p.reshape(-1) for p in pieces])
    return {"state": {0: merged} if merged else {}, "param_groups": [{**group, "params": [0]}]}


class MLPQBackprop:
    """Forward and backward of a `QNetwork` made of an `MLPTrunk` and a linear (or dueling
    linear) Q head, by hand: the products autograd would compute, without the graph.

    `forward` returns the Q-values and the activations that `backward` needs; `backward` takes
    dLoss/dQ and writes every parameter's gradient into its `.grad` (overwriting, not adding).
    Call both under `torch.no_grad()`.
    """

    def __init__(self, net: QNetwork) -> None:
        if not self.supports(net):
            raise ValueError("MLPQBackprop needs an MLPTrunk and single-layer Q head streams")
        trunk, head = net.trunk, net.head
        assert isinstance(trunk, MLPTrunk)
        self.layers = [m for m in trunk.body if isinstance(m, nn.Linear)]
        self.tanh = any(isinstance(m, nn.Tanh) for m in trunk.body)
        assert isinstance(head.advantage, nn.Linear)
        self.advantage: nn.Linear = head.advantage
        self.value: nn.Linear | None = head.value if isinstance(head.value, nn.Linear) else None
        # numpy views of the same memory, for numpy_q_values (CPU parameters only)
        self.numpy_layers = numpy_layers(list(trunk.body))
        self.numpy_heads = numpy_layers([m for m in (self.advantage, self.value) if m])

    @staticmethod
    def supports(net: nn.Module) -> bool:
        """True for an MLP trunk (relu or tanh) under plain or dueling single-layer streams."""
        if not isinstance(net, QNetwork) or not isinstance(net.trunk, MLPTrunk):
            return False
        body_ok = all(isinstance(m, nn.Linear | nn.ReLU | nn.Tanh) for m in net.trunk.body)
        head = net.head
        streams_ok = isinstance(head.advantage, nn.Linear) and (
            head.value is None or isinstance(head.value, nn.Linear)
        )
        return body_ok and streams_ok

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Q-values (batch, actions) and the trunk's activations, input first."""
        x = obs.float().flatten(1)
        activations = [x]
        for layer in self.layers:
            x = torch.addmm(layer.bias, x, layer.weight.t())
            x = x.tanh_() if self.tanh else x.relu_()
            activations.append(x)
        advantage = torch.addmm(self.advantage.bias, x, self.advantage.weight.t())
        if self.value is None:
            return advantage, activations
        value = torch.addmm(self.value.bias, x, self.value.weight.t())
        return value + advantage - advantage.mean(dim=1, keepdim=True), activations

    def numpy_q_values(self, obs: np.ndarray) -> np.ndarray:
        """The Q-values `forward` gives, computed in numpy on the same (CPU) parameter memory."""
        features = mlp_forward(self.numpy_layers, obs)
        advantage = mlp_forward(self.numpy_heads[:1], features)
        if self.value is None:
            return advantage
        value = mlp_forward(self.numpy_heads[1:], features)
        q: np.ndarray = value + advantage - advantage.mean(axis=1, keepdims=True)
        return q

    def backward(self, grad_q: torch.Tensor, activations: list[torch.Tensor]) -> None:
        """Write dLoss/dparameter into each parameter's `.grad`, given dLoss/dQ (batch, actions)."""
        features = activations[-1]
        grad_advantage = grad_q
        if self.value is not None:  # Q = V + A - mean(A): dV = sum dQ, dA = dQ - mean dQ
            grad_value = grad_q.sum(dim=1, keepdim=True)
            grad_advantage = grad_q - grad_q.mean(dim=1, keepdim=True)
            _linear_grads(self.value, grad_value, features)
        _linear_grads(self.advantage, grad_advantage, features)
        grad_x = grad_advantage.mm(self.advantage.weight)
        if self.value is not None:
            grad_x.addmm_(grad_value, self.value.weight)
        for i in range(len(self.layers) - 1, -1, -1):
            out = activations[i + 1]
            if self.tanh:
                grad_z = torch.ops.aten.tanh_backward(grad_x, out)
            else:
                grad_z = torch.ops.aten.threshold_backward(grad_x, out, 0.0)
            _linear_grads(self.layers[i], grad_z, activations[i])
            if i > 0:
                grad_x = grad_z.mm(self.layers[i].weight)


def _linear_grads(layer: nn.Linear, grad_out: torch.Tensor, inputs: torch.Tensor) -> None:
    """dL/dW = grad_out^T inputs and dL/db = sum of grad_out, written into the layer's .grad."""
    assert layer.weight.grad is not None
    assert layer.bias.grad is not None
    torch.mm(grad_out.t(), inputs, out=layer.weight.grad)
    torch.sum(grad_out, dim=0, out=layer.bias.grad)


def optimizer_step(optimizer: torch.optim.Optimizer) -> None:
    """`optimizer.step()`; for a fused Adam over one flat parameter, the same kernel on the same
    state without `step()`'s per-call Python bookkeeping (hooks, grouping by device, profiler
    records: about 0.2 ms a call on a small CPU, more than the kernel). Adam's first step,
    which creates the state, and every other optimizer go through `step()`."""
    group = optimizer.param_groups[0]
    params = group["params"]
    state = optimizer.state.get(params[0]) if len(params) == 1 else None
    plain_adam = (
        type(optimizer) is torch.optim.Adam
        and group["fused"]
        and not (group["amsgrad"] or group["maximize"] or group.get("decoupled_weight_decay"))
    )
    if not (state and plain_adam):
        optimizer.step()
        return
    (param,) = params
    beta1, beta2 = group["betas"]
    state["step"] += 1  # what step() does before the kernel
    torch._fused_adam_(
        [param],
        [param.grad],
        [state["exp_avg"]],
        [state["exp_avg_sq"]],
        [],
        [state["step"]],
        lr=group["lr"],
        beta1=beta1,
        beta2=beta2,
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        amsgrad=False,
        maximize=False,
    )
