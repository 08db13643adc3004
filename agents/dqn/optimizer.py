"""DQN's optimizer over one flat parameter buffer (stepped by `rlkit.nn.optim.optimizer_step`) and
the conversion of older checkpoints' per-tensor optimizer state."""

from __future__ import annotations

from typing import Any, Literal

import torch


def make_optimizer(
    param: torch.Tensor,
    kind: Literal["adam", "rmsprop"],
    learning_rate: float,
    eps: float,
    centered: bool = False,
) -> torch.optim.Optimizer:
    """Adam, or RMSprop with alpha 0.95 (the Nature paper's, not centred; MinAtar's DQN centres
    it), over one flat buffer."""
    if kind == "rmsprop":
        return torch.optim.RMSprop(
            [param], lr=learning_rate, alpha=0.95, eps=eps, centered=centered, foreach=True
        )
    # The fused kernel does the whole Adam step in one call (CPU and CUDA, torch >= 2.4).
    return torch.optim.Adam([param], lr=learning_rate, eps=eps, fused=True)


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
