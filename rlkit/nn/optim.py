"""What gradient steps share: clipping the global gradient norm, a cheap optimizer step, refusing a
non-finite loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from rlkit.errors import NonFiniteLossError


def clip_grad_norm(grads: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale `grads` in place so their global L2 norm is at most `max_norm` (0 or inf: no
    clipping), as torch.nn.utils.clip_grad_norm_ does; return the norm before clipping."""
    norms = [torch.linalg.vector_norm(grad) for grad in grads]
    norm: torch.Tensor = (
        norms[0] if len(norms) == 1 else torch.linalg.vector_norm(torch.stack(norms))
    )
    if max_norm > 0 and math.isfinite(max_norm):
        scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        for grad in grads:
            grad.mul_(scale)
    return norm


def check_finite_loss(
    loss: float,
    algorithm: str,
    where: str,
    advice: str = "a lower agent.learning_rate or agent.max_grad_norm",
) -> None:
    """Raise NonFiniteLossError naming the algorithm, where it happened and what to try, unless
    `loss` is finite. Training stops before the next checkpoint, so the last good one is kept."""
    if not math.isfinite(loss):
        raise NonFiniteLossError(
            f"the {algorithm} loss became {loss} at {where}; stopped without saving, the last "
            f"good checkpoint is kept; try {advice}"
        )


def optimizer_step(optimizer: torch.optim.Optimizer) -> None:
    """`optimizer.step()`; for a fused Adam, or a plain RMSprop (centred or not), whose groups
    each hold one (flat) parameter, the same kernels on the same state without `step()`'s
    per-call Python bookkeeping (hooks, grouping by device, profiler records: about 0.2-0.5 ms a
    call on a small CPU, more than the kernels for a small network). The first step, which
    creates the state, and every other optimizer go through `step()`."""
    groups = optimizer.param_groups
    states = [
        optimizer.state.get(g["params"][0]) if len(g["params"]) == 1 else None for g in groups
    ]
    if type(optimizer) is torch.optim.RMSprop and all(states) and all(map(_plain_rmsprop, groups)):
        for group, state in zip(groups, states, strict=True):
            assert state is not None
            _rmsprop_step(group, state)
        return
    plain_adam = type(optimizer) is torch.optim.Adam and all(
        g["fused"] and not (g["amsgrad"] or g["maximize"] or g.get("decoupled_weight_decay"))
        for g in groups
    )
    if not (plain_adam and all(states)):
        optimizer.step()
        return
    for group, state in zip(groups, states, strict=True):
        assert state is not None
        (param,) = group["params"]
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


def _plain_rmsprop(group: dict[str, Any]) -> bool:
    """An RMSprop group `_rmsprop_step` reproduces: one parameter, no momentum, no weight
    decay, not maximising, not differentiable."""
    return (
        len(group["params"]) == 1
        and group["momentum"] == 0
        and group["weight_decay"] == 0
        and not group["maximize"]
        and not group["differentiable"]
    )


@torch.no_grad()
def _rmsprop_step(group: dict[str, Any], state: dict[str, Any]) -> None:
    """torch.optim.RMSprop's update of one parameter, op for op (bitwise the same):
    v <- alpha v + (1 - alpha) g^2; centred: m <- lerp(m, g, 1 - alpha), v - m^2 under the
    root; theta <- theta - lr g / (sqrt(.) + eps)."""
    (param,) = group["params"]
    grad, alpha = param.grad, group["alpha"]
    square_avg = state["square_avg"]
    state["step"] += 1
    square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
    if group["centered"]:
        grad_avg = state["grad_avg"]
        grad_avg.lerp_(grad, 1 - alpha)
        avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    else:
        avg = square_avg.sqrt()
    param.addcdiv_(grad, avg.add_(group["eps"]), value=-group["lr"])
