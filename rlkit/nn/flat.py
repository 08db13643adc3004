"""Parameters (and gradients) moved into one contiguous buffer each.

Every parameter becomes a view of `data` and, with gradients, its `.grad` a view of `grad`, so
zeroing, clipping, an optimizer step, a copy or a target-network lerp is one operation on one
tensor instead of one per layer: for the small networks of classic-control agents that overhead
is most of an update. Build it once the module is on its device.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn


class FlatParameters:
    """`params` moved into one buffer (`data`), values kept; with `grads`, their gradients into
    another (`grad`, also `data.grad`, so an optimizer can step `data` alone)."""

    def __init__(self, params: Iterable[nn.Parameter], grads: bool = True) -> None:
        self.params = list(params)
        self.data = torch.cat([p.detach().reshape(-1) for p in self.params])
        offset = 0
        for p in self.params:
            p.data = self.data[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
        self.grad: torch.Tensor | None = None
        self.grad_views: list[torch.Tensor] = []
        if grads:
            grad = torch.zeros_like(self.data)
            self.grad, self.data.grad = grad, grad
            offset = 0
            for p in self.params:
                self.grad_views.append(grad[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
            self.zero_grad()

    @classmethod
    def of(cls, module: nn.Module, grads: bool = True) -> FlatParameters:
        """All of `module`'s parameters (frozen, without gradients, when `grads` is False)."""
        if not grads:
            module.requires_grad_(False)
        return cls(module.parameters(), grads)

    @property
    def size(self) -> int:
        return self.data.numel()

    def zero_grad(self) -> None:
        """Zero the gradient buffer and (re)point each parameter's `.grad` into it; backward then
        accumulates into it in place (never set the gradients to None)."""
        assert self.grad is not None, "FlatParameters built without gradients"
        self.grad.zero_()
        for p, view in zip(self.params, self.grad_views, strict=True):
            if p.grad is not view:
                p.grad = view

    def numpy(self) -> np.ndarray:
        """A numpy view of `data` (CPU only): writes reach the parameters."""
        return self.data.detach().numpy()

    def load(self, vector: np.ndarray | torch.Tensor) -> None:
        """Copy `vector` into the parameters."""
        with torch.no_grad():
            self.data.copy_(torch.as_tensor(vector))
