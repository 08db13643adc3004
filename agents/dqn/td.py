"""DQN's maths as pure functions: the TD target, the TD loss and the loss's gradient in q.

Shapes: `q`, `target`, `reward`, `discount` and `weight` are (batch,); Q-value tables are
(batch, actions). Nothing here knows about networks, replay or devices.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.nn import functional

TDLoss = Literal["huber", "mse"]
"""Huber (quadratic within 1 of the target, linear beyond) or squared TD error."""


def td_target(
    reward: torch.Tensor,
    discount: torch.Tensor,
    next_q_target: torch.Tensor,
    next_q_online: torch.Tensor | None = None,
) -> torch.Tensor:
    """y = r + discount * Q_target(s', a*): the target net evaluates the next action a*.

    DQN: a* = argmax_a Q_target(s', a). Double DQN, when the online net's values
    `next_q_online` are given: a* = argmax_a Q_online(s', a), which curbs the overestimation of
    taking a max over noisy estimates. `discount` is 0 where the episode terminated (no
    bootstrap), and gamma ** n for n-step returns.
    """
    chooser = next_q_target if next_q_online is None else next_q_online
    best = chooser.argmax(dim=1, keepdim=True)
    next_value = next_q_target.gather(1, best).squeeze(1)
    return reward + discount * next_value


def td_loss(
    q: torch.Tensor, target: torch.Tensor, kind: TDLoss, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Huber or squared TD error of the taken actions' Q-values, averaged over the batch;
    each sample scaled by its importance weight under prioritised replay."""
    loss = functional.mse_loss if kind == "mse" else functional.huber_loss
    if weight is None:
        return loss(q, target)
    return (weight * loss(q, target, reduction="none")).mean()


def td_loss_grad(
    q: torch.Tensor, target: torch.Tensor, kind: TDLoss, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """d`td_loss`/dq per sample: 2 (q - y) for mse, q - y clipped to [-1, 1] for Huber, times
    the weight, over the batch size; what autograd gives, without a graph."""
    td = q - target
    grad = td.mul_(2.0) if kind == "mse" else td.clamp_(-1.0, 1.0)
    if weight is not None:
        grad.mul_(weight)
    return grad.div_(len(q))
