"""The policy-gradient family's losses and their gradients in closed form.

A loss here depends on the network only through three outputs per sample: log pi(a|s), the
entropy of pi(.|s) and V(s). Each function returns the loss's value, what is logged of it, and
its gradient with respect to those outputs (`OutputGradients`), which an actor-critic pass
(`rlkit.agents.pg.passes`) backpropagates into the parameters. Nothing here builds an autograd
graph; tests check each gradient against autograd's on the loss written out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch


@dataclass
class OutputGradients:
    """dLoss/d(log_prob), dLoss/d(entropy) and dLoss/d(values), one per row; None where the
    loss does not depend on that output (an entropy coefficient of 0, no value head)."""

    log_prob: torch.Tensor
    entropy: torch.Tensor | None
    values: torch.Tensor | None


class PolicyGradientLoss(NamedTuple):
    """The loss of one batch, its logged parts and its gradient."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]
    """policy_loss, entropy, and value_loss when there is a value head."""
    grads: OutputGradients


def policy_gradient_loss(
    log_prob: torch.Tensor,
    entropy: torch.Tensor,
    weights: torch.Tensor,
    values: torch.Tensor | None,
    returns: torch.Tensor,
    value_coef: float,
    entropy_coef: float,
) -> PolicyGradientLoss:
    """-mean(weights * log pi) + value_coef * MSE(V, returns) - entropy_coef * mean entropy
    (REINFORCE, A2C), the value part only with a value head; gradients -weights / B,
    2 value_coef (V - R) / B and -entropy_coef / B per sample."""
    with torch.no_grad():
        size = log_prob.shape[0]
        parts = {"policy_loss": -(weights * log_prob).mean(), "entropy": entropy.mean()}
        total = parts["policy_loss"] - entropy_coef * parts["entropy"]
        grad_values = None
        if values is not None:
            error = values - returns
            parts["value_loss"] = error.pow(2).mean()
            total = total + value_coef * parts["value_loss"]
            grad_values = error * (2.0 * value_coef / size)
        grads = OutputGradients(
            weights * (-1.0 / size), _entropy_gradient(entropy, entropy_coef), grad_values
        )
        return PolicyGradientLoss(total, parts, grads)


class PPOLoss(NamedTuple):
    """The loss of one minibatch, what is logged of it, and its gradient (no autograd graph)."""

    total: torch.Tensor
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    """mean((r - 1) - log r), the low-variance estimator of KL(pi_old || pi)."""
    clip_fraction: torch.Tensor
    """Fraction of samples whose ratio lies outside [1 - eps, 1 + eps]."""
    grads: OutputGradients
    """dtotal/d(log_prob, entropy, values), what an ActorCriticPass backpropagates."""


def ppo_loss(
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    entropy: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_range: float,
    clip_range_vf: float | None,
    value_coef: float,
    entropy_coef: float,
) -> PPOLoss:
    """PPO's clipped surrogate, value and entropy terms of one minibatch (advantages as given),
    and their gradient in closed form.

    Policy: -mean(min(r A, clip(r, 1 - eps, 1 + eps) A)); its gradient with respect to log pi is
    -r A / B where the unclipped term is the minimum (always inside the clip range) and 0 where
    the clipped one is smaller. Value: mean((V - R)^2), or with clip_range_vf the larger of that
    and the error of V clipped to V_old +- clip_range_vf (PPO2's pessimistic value loss), per
    sample; its gradient 2 (V - R) / B, or that of the clipped error (0 beyond the clip) where
    that one is larger. Entropy: -entropy_coef / B per sample.
    """
    with torch.no_grad():
        size = log_prob.shape[0]
        log_ratio = log_prob - old_log_prob
        ratio = log_ratio.exp()
        unclipped = ratio * advantages
        clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages
        surrogate = torch.min(unclipped, clipped)
        grad_log_prob = torch.where(unclipped <= clipped, unclipped, 0.0) * (-1.0 / size)
        error = values - returns
        value_error, grad_error = error.pow(2), error
        if clip_range_vf is not None:
            change = values - old_values
            clipped_error = old_values + change.clamp(-clip_range_vf, clip_range_vf) - returns
            larger = clipped_error.pow(2) > value_error
            inside = change.abs() <= clip_range_vf
            value_error = torch.where(larger, clipped_error.pow(2), value_error)
            grad_error = torch.where(larger, clipped_error * inside, error)
        policy, value, mean_entropy = -surrogate.mean(), value_error.mean(), entropy.mean()
        grads = OutputGradients(
            grad_log_prob,
            _entropy_gradient(entropy, entropy_coef),
            grad_error * (2.0 * value_coef / size),
        )
        return PPOLoss(
            policy + value_coef * value - entropy_coef * mean_entropy,
            policy,
            value,
            mean_entropy,
            ((ratio - 1.0) - log_ratio).mean(),
            ((ratio - 1.0).abs() > clip_range).float().mean(),
            grads,
        )


def _entropy_gradient(entropy: torch.Tensor, entropy_coef: float) -> torch.Tensor | None:
    """d(-entropy_coef * mean entropy)/d entropy: -entropy_coef / B per sample (None at 0)."""
    if entropy_coef == 0:
        return None
    return torch.full_like(entropy, -entropy_coef / entropy.shape[0])
