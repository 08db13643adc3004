"""What gradient steps share: clipping the global gradient norm, refusing a non-finite loss."""

from __future__ import annotations

import math
from collections.abc import Sequence

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
