"""AlphaZero's network: a small residual tower over board planes with policy and value heads."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a skip connection (AlphaGo Zero's block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class PolicyValueNet(nn.Module):
    """AlphaZero's small residual net over board planes: policy logits and a tanh value."""

    def __init__(
        self,
        shape: Sequence[int],
        num_actions: int,
        channels: int = 32,
        blocks: int = 2,
        value_hidden: int = 64,
    ) -> None:
        super().__init__()
        in_channels, height, width = shape
        cells = height * width
        self.trunk = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            *(ResidualBlock(channels) for _ in range(blocks)),
        )
        self.policy = nn.Sequential(
            nn.Conv2d(channels, 2, 1, bias=False),
            nn.BatchNorm2d(2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(2 * cells, num_actions),
        )
        self.value = nn.Sequential(
            nn.Conv2d(channels, 1, 1, bias=False),
            nn.BatchNorm2d(1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(cells, value_hidden),
            nn.ReLU(),
            nn.Linear(value_hidden, 1),
            nn.Tanh(),
        )

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy logits (batch, num_actions) and values in [-1, 1] (batch,) for the mover."""
        features = self.trunk(planes.float())
        logits: torch.Tensor = self.policy(features)
        value: torch.Tensor = self.value(features).squeeze(1)
        return logits, value


def fold_batch_norm(net: nn.Module) -> nn.Module:
    """An inference copy of `net` with every Conv2d + BatchNorm2d pair of a Sequential folded
    into one convolution (eval-mode statistics), which saves a third of a small net's time."""
    folded = copy.deepcopy(net).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(conv, norm)
                module[i + 1] = nn.Identity()
    return folded.requires_grad_(False)
