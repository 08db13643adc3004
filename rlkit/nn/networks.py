"""Networks shared by agents: MLP, the Nature CNN, Q heads (plain and dueling), devices."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import gymnasium as gym
import torch
from torch import nn

from rlkit.errors import SpaceError
from rlkit.nn.numpy_mlp import Activation

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def mlp(
    sizes: Sequence[int], activation: Activation = "relu", last_activation: bool = False
) -> nn.Sequential:
    """Linear layers between consecutive `sizes`, with the activation between them."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2 or last_activation:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class NatureCNN(nn.Module):
    """The Nature DQN trunk: conv 32@8s4, 64@4s2, 64@3s1, FC 512; uint8 frames scaled on device."""

    def __init__(self, in_channels: int, features: int = 512, height: int = 84, width: int = 84):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, in_channels, height, width)).shape[1]
        self.fc = nn.Sequential(nn.Linear(flat, features), nn.ReLU())
        self.out_features = features

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames
        if frames.dtype == torch.uint8:  # one copy converts and goes channels-last, the
            # kernels' layout in FlatParameters
            x = frames.to(torch.float32, memory_format=torch.channels_last).div_(255.0)
        out: torch.Tensor = self.fc(self.convs(x))
        return out


class MinAtarCNN(nn.Module):
    """The MinAtar paper's trunk (Young & Tian 2019): one 3x3 conv of 16 channels, stride 1, no
    padding, then 128 units, ReLU after each; takes channel-last (H, W, C) frames (MinAtar's
    boolean grids) and moves the channels first on the device."""

    def __init__(self, height: int, width: int, channels: int, features: int = 128):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, 16, 3, stride=1), nn.ReLU(), nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(16 * (height - 2) * (width - 2), features), nn.ReLU())
        self.out_features = features

    def forward(self, grids: torch.Tensor) -> torch.Tensor:
        x = grids.permute(0, 3, 1, 2).float()
        out: torch.Tensor = self.fc(self.conv(x))
        return out


class MLPTrunk(nn.Module):
    """Hidden layers over flattened vector observations."""

    def __init__(self, in_features: int, hidden: Sequence[int], activation: Activation):
        super().__init__()
        self.body = mlp([in_features, *hidden], activation, last_activation=True)
        self.out_features = hidden[-1] if hidden else in_features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(obs.float().flatten(1))
        return out


class QHead(nn.Module):
    """Q-values from features; dueling: Q = V + A - mean_a A, the mean per sample over actions."""

    def __init__(self, features: int, num_actions: int, dueling: bool, hidden: int = 0):
        super().__init__()
        self.dueling = dueling

        def stream(out: int) -> nn.Module:
            return mlp([features, hidden, out]) if hidden else nn.Linear(features, out)

        self.advantage = stream(num_actions)
        self.value = stream(1) if dueling else None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage: torch.Tensor = self.advantage(features)
        if self.value is None:
            return advantage
        value: torch.Tensor = self.value(features)
        return value + advantage - advantage.mean(dim=1, keepdim=True)


class QNetwork(nn.Module):
    """A trunk and a Q head."""

    def __init__(self, trunk: nn.Module, head: QHead):
        super().__init__()
        self.trunk, self.head = trunk, head

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.trunk(obs))
        return out


def is_image_space(space: gym.Space[object]) -> bool:
    """Stacked uint8 frames (C, H, W) as produced by rlkit's Atari factories."""
    return isinstance(space, gym.spaces.Box) and space.dtype == "uint8" and len(space.shape) == 3


def is_grid_space(space: gym.Space[object]) -> bool:
    """Channel-last boolean grids (H, W, C), as MinAtar's games give them."""
    return isinstance(space, gym.spaces.Box) and space.dtype == bool and len(space.shape) == 3


NetworkKind = Literal["auto", "mlp", "nature_cnn", "minatar_cnn"]
"""A trunk: auto picks the Nature CNN for stacked uint8 frames, the MinAtar CNN for boolean
grids (MinAtar), an MLP otherwise."""


def build_trunk(
    space: gym.Space[object], kind: NetworkKind, hidden: Sequence[int], activation: Activation
) -> MLPTrunk | NatureCNN | MinAtarCNN:
    """The Nature CNN for stacked frames, the MinAtar CNN for boolean grids, an MLP for vector
    observations (`auto` picks by the observation space)."""
    assert isinstance(space, gym.spaces.Box)
    if kind == "minatar_cnn" or (kind == "auto" and is_grid_space(space)):
        if len(space.shape) != 3 or min(space.shape[:2]) < 3:
            raise SpaceError(
                f"network 'minatar_cnn' needs channel-last grids (height, width, channels), "
                f"each side >= 3; the observations have shape {space.shape}: use network = 'mlp'"
            )
        height, width, channels = space.shape
        return MinAtarCNN(height, width, channels)
    if kind == "nature_cnn" or (kind == "auto" and is_image_space(space)):
        if len(space.shape) != 3 or min(space.shape[1:]) < 36:
            raise SpaceError(
                f"network 'nature_cnn' needs stacked frames (channels, height, width), each side "
                f">= 36; the observations have shape {space.shape}: use network = 'mlp'"
            )
        channels, height, width = space.shape
        return NatureCNN(channels, height=height, width=width)
    in_features = 1
    for dim in space.shape:
        in_features *= dim
    return MLPTrunk(in_features, hidden, activation)
