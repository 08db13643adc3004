"""The policy-gradient family's two paths train alike: the closed-form loss gradients equal
autograd's, and the hand-written MLP pass and autograd take the same gradient steps."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agent import EnvSpec, Transition
from rlkit.agents.pg.a2c import A2CAgent, A2CConfig
from rlkit.agents.pg.losses import OutputGradients, ppo_loss
from rlkit.agents.pg.passes import AutogradPass, ManualPass
from rlkit.agents.pg.policies import PolicyGradientConfig, build_actor_critic
from rlkit.agents.pg.ppo import PPOAgent, PPOConfig
from rlkit.agents.pg.reinforce import ReinforceAgent, ReinforceConfig
from rlkit.config import from_dict

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
DISCRETE = gym.spaces.Discrete(3)
BOX = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def reference_ppo_loss(
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
) -> torch.Tensor:
    """PPO's loss written as CleanRL writes it, for autograd."""
    ratio = (log_prob - old_log_prob).exp()
    policy = -torch.min(
        ratio * advantages, ratio.clamp(1 - clip_range, 1 + clip_range) * advantages
    )
    error = (values - returns).pow(2)
    if clip_range_vf is not None:
        clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
        error = torch.max(error, (clipped - returns).pow(2))
    return policy.mean() + value_coef * error.mean() - entropy_coef * entropy.mean()


@pytest.mark.parametrize("clip_range_vf", [None, 0.2])
@pytest.mark.parametrize("entropy_coef", [0.0, 0.01])
def test_ppo_loss_gradient_equals_autograd(
    clip_range_vf: float | None, entropy_coef: float
) -> None:
    generator = torch.Generator().manual_seed(0)

    def randn(scale: float = 1.0) -> torch.Tensor:
        return scale * torch.randn(64, generator=generator, dtype=torch.float64)

    old_log_prob, advantages, old_values, returns = randn(), randn(), randn(), randn()
    # ratios from about 0.5 to 2: both clips of the surrogate are active on some samples
    log_prob = (old_log_prob + randn(0.4)).requires_grad_()
    entropy = randn().abs().requires_grad_()
    values = (old_values + randn(0.5)).requires_grad_()
    args = (old_values, returns, 0.2, clip_range_vf, 0.5, entropy_coef)
    mine = ppo_loss(
        log_prob.detach(), old_log_prob, advantages, entropy.detach(), values.detach(), *args
    )
    reference = reference_ppo_loss(log_prob, old_log_prob, advantages, entropy, values, *args)
    reference.backward()
    assert float(mine.total) == pytest.approx(float(reference.detach()))
    assert 0.1 < float(mine.clip_fraction) < 0.9
    torch.testing.assert_close(mine.grads.log_prob, log_prob.grad)
    torch.testing.assert_close(mine.grads.values, values.grad)
    if entropy_coef:
        torch.testing.assert_close(mine.grads.entropy, entropy.grad)
    else:
        assert mine.grads.entropy is None


def network(action_space: gym.Space[Any], **settings: Any) -> Any:
    config = from_dict(PolicyGradientConfig, {"hidden": [8, 8], **settings}, "agent")
    torch.manual_seed(0)
    return build_actor_critic(config, EnvSpec("Test-v0", OBS, action_space, 1), with_value=True)


def assert_both_passes_agree(
    net: Any, obs: torch.Tensor, taken: torch.Tensor, grads: OutputGradients
) -> torch.Tensor:
    """The hand-written and autograd passes give the same outputs and parameter gradients
    (to 1e-5); return the hand-written pass's flat gradient."""
    results = []
    for path in (ManualPass(net), AutogradPass(net)):
        outputs = path.forward(obs, taken)
        path.backward(grads, outputs)
        gradient = torch.cat([g.grad.clone() for g in net.flat_groups])
        results.append((outputs.log_prob, outputs.entropy, outputs.values, gradient))
    for mine, theirs in zip(*results, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)
    gradient: torch.Tensor = results[0][3]
    return gradient


@pytest.mark.parametrize("actions", [DISCRETE, BOX], ids=["categorical", "gaussian"])
@pytest.mark.parametrize("shared_trunk", [False, True], ids=["separate", "shared"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("with_entropy", [False, True])
def test_manual_pass_gives_autograds_outputs_and_parameter_gradients(
    actions: gym.Space[Any], shared_trunk: bool, activation: str, with_entropy: bool
) -> None:
    net = network(actions, shared_trunk=shared_trunk, activation=activation)
    rng = np.random.default_rng(0)
    obs = torch.as_tensor(rng.normal(size=(16, 3)), dtype=torch.float32)
    taken = torch.as_tensor(
        rng.integers(3, size=16) if actions is DISCRETE else rng.normal(size=(16, 2)).astype("f4")
    )
    grads = OutputGradients(
        torch.as_tensor(rng.normal(size=16), dtype=torch.float32),
        torch.as_tensor(rng.normal(size=16), dtype=torch.float32) if with_entropy else None,
        torch.as_tensor(rng.normal(size=16), dtype=torch.float32),
    )
    gradient = assert_both_passes_agree(net, obs, taken, grads)
    assert torch.isfinite(gradient).all()
    assert gradient.abs().max() > 0


@pytest.mark.parametrize("shared_trunk", [False, True], ids=["separate", "shared"])
def test_a_loss_without_a_value_term_leaves_the_value_parameters_untouched(
    shared_trunk: bool,
) -> None:
    """grads.values None (a loss that ignores V): both passes give the value head, and a
    separate value trunk, zero gradients, and the same policy gradients."""
    net = network(DISCRETE, shared_trunk=shared_trunk)
    rng = np.random.default_rng(2)
    obs = torch.as_tensor(rng.normal(size=(8, 3)), dtype=torch.float32)
    taken = torch.as_tensor(rng.integers(3, size=8))
    grads = OutputGradients(torch.as_tensor(rng.normal(size=8), dtype=torch.float32), None, None)
    results = []
    for path in (ManualPass(net), AutogradPass(net)):
        for group in net.flat_groups:
            group.grad.fill_(7.0)  # stale values a pass must overwrite
        path.backward(grads, path.forward(obs, taken))
        assert net.value_head is not None
        value_only = [net.value_head.weight, net.value_head.bias]
        if net.critic_trunk is not None:
            value_only += list(net.critic_trunk.parameters())
        assert all(p.grad is not None and p.grad.abs().max() == 0 for p in value_only)
        results.append(torch.cat([g.grad.clone() for g in net.flat_groups]))
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)
    assert results[0].abs().max() > 0


def make_agent(
    kind: type[Any],
    config: type[Any],
    manual_backward: bool,
    actions: gym.Space[Any],
    **overrides: Any,
) -> Any:
    settings = {
        "device": "cpu",
        "hidden": [16, 16],
        "manual_backward": manual_backward,
        **overrides,
    }
    torch.manual_seed(0)
    spec = EnvSpec("Test-v0", OBS, actions, 2)
    return kind(from_dict(config, settings, "agent"), spec, seed=0)


def train_both(manual: Any, auto: Any, steps: int) -> tuple[dict[str, float], dict[str, float]]:
    """Feed both agents the same random transitions, acting with each; their last metrics."""
    assert isinstance(manual.passes, ManualPass)
    assert isinstance(auto.passes, AutogradPass)
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(2, 3)).astype(np.float32)
    last: list[dict[str, float]] = [{}, {}]
    for step in range(steps):
        next_obs = rng.normal(size=(2, 3)).astype(np.float32)
        taken = [a.act(obs, explore=True) for a in (manual, auto)]
        np.testing.assert_allclose(taken[0], taken[1], rtol=1e-4, atol=1e-5)
        reward = rng.normal(size=2).astype(np.float32)
        for i, a in enumerate((manual, auto)):
            a.observe(Transition(obs, taken[i], reward, next_obs, np.array([step % 7 == 6] * 2),
                                 np.array([False, step % 5 == 4])))  # fmt: skip
            last[i] = a.update() or last[i]
        obs = next_obs
    assert manual.updates == auto.updates >= 3
    for mine, theirs in zip(manual.net.flat_groups, auto.net.flat_groups, strict=True):
        torch.testing.assert_close(mine.data, theirs.data, rtol=1e-4, atol=1e-5)
    assert last[0].keys() == last[1].keys()
    for key, value in last[1].items():
        assert last[0][key] == pytest.approx(value, rel=1e-3, abs=1e-5), key
    return last[0], last[1]


@pytest.mark.parametrize("actions", [DISCRETE, BOX], ids=["categorical", "gaussian"])
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"shared_trunk": True, "entropy_coef": 0.01, "clip_range_vf": 0.2},
        {"critic_learning_rate": 3e-3, "optimizer": "rmsprop", "minibatches": 1},
    ],
    ids=["separate", "shared-entropy-vf-clip", "critic-lr-rmsprop-one-minibatch"],
)
def test_ppo_takes_the_same_steps_on_either_path(
    actions: gym.Space[Any], overrides: dict[str, Any]
) -> None:
    settings = {"n_steps": 8, "epochs": 3, "minibatches": 2, **overrides}
    manual, auto = (make_agent(PPOAgent, PPOConfig, m, actions, **settings) for m in (True, False))
    train_both(manual, auto, 8 * 4)


@pytest.mark.parametrize("actions", [DISCRETE, BOX], ids=["categorical", "gaussian"])
@pytest.mark.parametrize(
    "overrides", [{}, {"shared_trunk": True, "entropy_coef": 0.01, "optimizer": "adam"}]
)
def test_a2c_takes_the_same_steps_on_either_path(
    actions: gym.Space[Any], overrides: dict[str, Any]
) -> None:
    manual, auto = (make_agent(A2CAgent, A2CConfig, m, actions, **overrides) for m in (True, False))
    train_both(manual, auto, 5 * 4)


@pytest.mark.parametrize("baseline", [False, True])
def test_reinforce_takes_the_same_steps_on_either_path(baseline: bool) -> None:
    settings = {"baseline": baseline, "entropy_coef": 0.01}
    manual, auto = (
        make_agent(ReinforceAgent, ReinforceConfig, m, DISCRETE, **settings) for m in (True, False)
    )
    train_both(manual, auto, 30)


def test_cnn_and_unsupported_networks_use_autograd() -> None:
    frames = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    spec = EnvSpec("Test-v0", frames, DISCRETE, 2)
    config = from_dict(PPOConfig, {"device": "cpu", "n_steps": 4, "minibatches": 2}, "agent")
    assert isinstance(PPOAgent(config, spec, seed=0).passes, AutogradPass)
    off = from_dict(PPOConfig, {"device": "cpu", "manual_backward": False}, "agent")
    assert isinstance(PPOAgent(off, EnvSpec("Test-v0", OBS, DISCRETE, 1), 0).passes, AutogradPass)


GRIDS = gym.spaces.Box(0, 1, (10, 10, 4), np.bool_)


@pytest.mark.parametrize("shared_trunk", [False, True], ids=["separate", "shared"])
def test_the_manual_pass_of_minatar_cnns_gives_autograds_outputs_and_gradients(
    shared_trunk: bool,
) -> None:
    config = from_dict(PolicyGradientConfig, {"shared_trunk": shared_trunk}, "agent")
    torch.manual_seed(0)
    net = build_actor_critic(config, EnvSpec("Grid-v0", GRIDS, DISCRETE, 1), with_value=True)
    assert ManualPass.supports(net)
    rng = np.random.default_rng(5)
    obs = torch.as_tensor(rng.random((16, 10, 10, 4)) < 0.3)
    taken = torch.as_tensor(rng.integers(3, size=16))
    grads = OutputGradients(*(torch.as_tensor(rng.normal(size=16), dtype=torch.float32)
                              for _ in range(3)))  # fmt: skip
    gradient = assert_both_passes_agree(net, obs, taken, grads)
    assert gradient.abs().max() > 0
    for cls, config_class in ((PPOAgent, PPOConfig), (A2CAgent, A2CConfig)):
        agent = cls(from_dict(config_class, {"device": "cpu", "n_steps": 16}, "agent"),
                    EnvSpec("Grid-v0", GRIDS, DISCRETE, 2), seed=0)  # fmt: skip
        assert isinstance(agent.passes, ManualPass)
