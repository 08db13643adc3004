"""An MLP's forward and backward passes by hand, for small networks on a CPU.

A small MLP's training step on a CPU is dominated by per-operation overhead (recording and
replaying autograd's graph, module hooks), not by its matrix products. `ManualMLP` runs the
products autograd would run (the same kernels, the same results up to float rounding) without
the graph, and writes the gradients straight into the parameters' `.grad` tensors (views of one
flat buffer, see `rlkit.nn.flat`), replacing what was there.
"""

from __future__ import annotations

import torch
from torch import nn

from rlkit.nn.networks import MLPTrunk

Activations = list[torch.Tensor]
"""What `ManualMLP.forward` keeps for `ManualMLP.backward`: the input, then each layer's output."""


class ManualMLP:
    """An `MLPTrunk` (Linear layers, each followed by one ReLU or Tanh) run without autograd."""

    def __init__(self, trunk: MLPTrunk) -> None:
        if not self.supports(trunk):
            raise ValueError("ManualMLP needs an MLPTrunk of Linear layers and ReLU or Tanh")
        self.layers = [m for m in trunk.body if isinstance(m, nn.Linear)]
        self.tanh = any(isinstance(m, nn.Tanh) for m in trunk.body)

    @staticmethod
    def supports(trunk: nn.Module) -> bool:
        """True for an MLPTrunk whose layers are Linear, ReLU or Tanh."""
        return isinstance(trunk, MLPTrunk) and all(
            isinstance(m, nn.Linear | nn.ReLU | nn.Tanh) for m in trunk.body
        )

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> Activations:
        """The activations, flattened float input first; the last is the trunk's output."""
        x = obs.float().flatten(1)
        activations = [x]
        for layer in self.layers:
            x = torch.addmm(layer.bias, x, layer.weight.t())
            x = x.tanh_() if self.tanh else x.relu_()
            activations.append(x)
        return activations

    @torch.no_grad()
    def backward(self, grad_out: torch.Tensor, activations: Activations) -> None:
        """Write every layer's dLoss/dparameter, given dLoss/d(output) of that `forward`."""
        grad_x = grad_out
        for i in range(len(self.layers) - 1, -1, -1):
            out = activations[i + 1]
            if self.tanh:
                grad_z = torch.ops.aten.tanh_backward(grad_x, out)
            else:
                grad_z = torch.ops.aten.threshold_backward(grad_x, out, 0.0)
            linear_grads(self.layers[i], grad_z, activations[i])
            if i > 0:
                grad_x = grad_z.mm(self.layers[i].weight)


def linear(layer: nn.Linear, inputs: torch.Tensor) -> torch.Tensor:
    """layer(inputs) without autograd's graph or the module's hooks."""
    return torch.addmm(layer.bias, inputs, layer.weight.t())


def linear_grads(layer: nn.Linear, grad_out: torch.Tensor, inputs: torch.Tensor) -> None:
    """dL/dW = grad_out^T inputs and dL/db = sum of grad_out, written into the layer's .grad."""
    assert layer.weight.grad is not None
    assert layer.bias.grad is not None
    torch.mm(grad_out.t(), inputs, out=layer.weight.grad)
    torch.sum(grad_out, dim=0, out=layer.bias.grad)
