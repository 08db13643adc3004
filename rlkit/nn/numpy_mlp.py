"""An MLP's forward pass in numpy, on views of the torch CPU parameters.

For one observation or a small batch on a CPU, numpy's few microseconds per call against torch's
~10 per module make acting several times faster. The views share the parameters' memory, so
optimizer steps, `load_state_dict` and flat-buffer copies show through without a refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

Activation = Literal["relu", "tanh"]
"""The activations of rlkit's MLPs (`rlkit.nn.networks.mlp`); None is a linear layer's output."""
Layer = tuple[np.ndarray, np.ndarray, Activation | None]
"""(weight as (in, out), bias, activation applied after it)."""


def mlp_forward(layers: Sequence[Layer], obs: np.ndarray) -> np.ndarray:
    """Outputs of the MLP given as numpy layers, for a batch of observations (flattened)."""
    x = np.asarray(obs, dtype=np.float32).reshape(len(obs), -1)
    for weight, bias, activation in layers:
        x = x @ weight + bias
        if activation == "tanh":
            np.tanh(x, out=x)
        elif activation == "relu":
            np.maximum(x, 0.0, out=x)
    return x


def numpy_layers(modules: Sequence[nn.Module]) -> list[Layer]:
    """Numpy views of a sequence of Linear, ReLU and Tanh modules (CPU parameters)."""
    layers: list[Layer] = []
    for module in modules:
        if isinstance(module, nn.Linear):
            layers.append((_array(module.weight).T, _array(module.bias), None))
        elif isinstance(module, nn.ReLU | nn.Tanh) and layers and layers[-1][2] is None:
            activation: Activation = "tanh" if isinstance(module, nn.Tanh) else "relu"
            layers[-1] = (layers[-1][0], layers[-1][1], activation)
        else:
            raise TypeError(f"a numpy MLP cannot run {type(module).__name__} here")
    return layers


def copy_layers(layers: Sequence[Layer]) -> list[Layer]:
    """A private copy of `layers` with the same memory layout (so the same results)."""
    return [(w.T.copy().T, b.copy(), activation) for w, b, activation in layers]


def _array(param: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU parameter's memory."""
    return param.detach().numpy()
