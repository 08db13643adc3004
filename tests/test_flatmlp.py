"""Flat parameter buffers, the flat optimizer step, and the hand-written MLP Q-function against
autograd's."""

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agent import EnvSpec, Transition
from rlkit.agents.dqn import DQNAgent, DQNConfig
from rlkit.agents.dqn.optimizer import flat_optimizer_state
from rlkit.agents.dqn.qfunction import (
    AutogradQFunction,
    ManualQFunction,
    QFunction,
    q_function,
)
from rlkit.config import from_dict
from rlkit.nn.flat import FlatParameters
from rlkit.nn.manual_conv import ManualMinAtarCNN
from rlkit.nn.networks import MinAtarCNN, MLPTrunk, QHead, QNetwork
from rlkit.nn.optim import optimizer_step

BOX3 = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def q_network(activation: str = "relu", dueling: bool = False, head_hidden: int = 0) -> QNetwork:
    torch.manual_seed(0)
    trunk = MLPTrunk(3, [16, 8], activation)  # type: ignore[arg-type]
    return QNetwork(trunk, QHead(trunk.out_features, 4, dueling, head_hidden))


def test_flatten_parameters_makes_views_and_in_place_gradients() -> None:
    net = q_network()
    before = [p.detach().clone() for p in net.parameters()]
    params = FlatParameters.of(net)
    flat, grad = params.data, params.grad
    assert grad is not None
    assert flat.numel() == sum(p.numel() for p in before)
    assert flat.grad is grad
    for p, old in zip(net.parameters(), before, strict=True):
        torch.testing.assert_close(p, old, rtol=0, atol=0)
    flat.add_(1.0)  # reaches the module
    torch.testing.assert_close(next(net.parameters()), before[0] + 1.0)
    net(torch.ones(2, 3)).sum().backward()  # autograd accumulates into the gradient buffer
    assert grad.abs().sum() > 0
    for p in net.parameters():
        assert p.grad is not None
        assert grad.data_ptr() <= p.grad.data_ptr() < grad.data_ptr() + grad.numel() * 4


def assert_both_q_functions_agree(
    manual: QFunction,
    manual_grad: torch.Tensor,
    auto: QFunction,
    auto_grad: torch.Tensor,
    obs: torch.Tensor,
    grad_q: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both Q-functions give the same learning, bootstrap and acting Q-values and write the
    same gradients (replacing stale ones), to 1e-5; return the manual one's Q and gradient."""
    results = []
    for path, grad in ((manual, manual_grad), (auto, auto_grad)):
        q, tape = path.forward(obs)
        assert not q.requires_grad
        grad.fill_(123.0)  # backward replaces the gradients, it does not accumulate
        path.backward(grad_q, tape)
        acting_q = torch.from_numpy(path.act_q_values(obs.numpy()))
        results.append((q, path.q_values(obs), acting_q, grad.clone()))
    for manual_result, auto_result in zip(*results, strict=True):
        torch.testing.assert_close(manual_result, auto_result, rtol=1e-5, atol=1e-6)
    return results[0][0], results[0][3]


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dueling", [False, True])
def test_hand_written_passes_equal_autograds(activation: str, dueling: bool) -> None:
    manual_net = q_network(activation, dueling)
    auto_net = copy.deepcopy(manual_net)
    manual_grad = FlatParameters.of(manual_net).grad
    auto_grad = FlatParameters.of(auto_net).grad
    assert manual_grad is not None
    assert auto_grad is not None
    manual = ManualQFunction(manual_net)
    auto = AutogradQFunction(auto_net, auto_grad)
    obs = torch.randn(32, 3)
    grad_q = torch.randn(32, 4)
    q, _ = assert_both_q_functions_agree(manual, manual_grad, auto, auto_grad, obs, grad_q)
    torch.testing.assert_close(q, auto_net(obs).detach(), rtol=0, atol=0)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dueling", [False, True])
def test_q_values_of_a_sample_do_not_depend_on_the_rest_of_the_batch(
    activation: str, dueling: bool
) -> None:
    """The module, hand-written and numpy passes give each row the Q-values it has alone."""
    net = q_network(activation, dueling)
    manual = ManualQFunction(net)
    obs = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        alone = torch.cat([net(row[None]) for row in obs])
        batched = [
            net(obs),
            manual.forward(obs)[0],
            torch.from_numpy(manual.act_q_values(obs.numpy())),
        ]
    for q in batched:
        torch.testing.assert_close(q, alone, rtol=1e-5, atol=1e-6)


def test_hidden_head_streams_other_devices_and_manual_backward_off_are_left_to_autograd() -> None:
    assert isinstance(q_function(q_network(dueling=True), None, True), ManualQFunction)
    assert isinstance(q_function(q_network(dueling=True), None, False), AutogradQFunction)
    assert isinstance(q_function(q_network(head_hidden=5), None, True), AutogradQFunction)
    off_cpu = q_network().to("meta")  # parameters numpy cannot view, as on a GPU
    assert isinstance(q_function(off_cpu, None, True), AutogradQFunction)
    with pytest.raises(ValueError, match="single-layer Q head"):
        ManualQFunction(q_network(head_hidden=5))


def minatar_q_network(dueling: bool) -> QNetwork:
    torch.manual_seed(0)
    trunk = MinAtarCNN(10, 10, 4)
    return QNetwork(trunk, QHead(trunk.out_features, 3, dueling, 0))


@pytest.mark.parametrize("dueling", [False, True])
def test_the_hand_written_minatar_cnn_pass_equals_autograds(dueling: bool) -> None:
    manual_net = minatar_q_network(dueling)
    auto_net = copy.deepcopy(manual_net)
    manual_grad = FlatParameters.of(manual_net).grad  # conv kernel channels-last, as in DQN
    auto_grad = FlatParameters.of(auto_net).grad
    assert manual_grad is not None
    assert auto_grad is not None
    manual = q_function(manual_net, manual_grad, manual_backward=True)
    assert isinstance(manual, ManualQFunction)
    assert isinstance(manual.trunk, ManualMinAtarCNN)
    auto = AutogradQFunction(auto_net, auto_grad)
    obs = torch.rand(32, 10, 10, 4, generator=torch.Generator().manual_seed(2)) < 0.3
    grad_q = torch.randn(32, 3, generator=torch.Generator().manual_seed(3))
    q, gradient = assert_both_q_functions_agree(manual, manual_grad, auto, auto_grad, obs, grad_q)
    assert gradient.abs().sum() > 0
    alone = torch.cat([manual.forward(row[None])[0] for row in obs[:4]])
    torch.testing.assert_close(alone, q[:4], rtol=1e-5, atol=1e-6)  # row by row


def test_a_minatar_cnn_of_another_shape_is_left_to_autograd() -> None:
    net = minatar_q_network(False)
    net.trunk.conv[0] = torch.nn.Conv2d(4, 16, 3, stride=1, padding=1)
    assert not ManualMinAtarCNN.supports(net.trunk)
    assert isinstance(q_function(net, None, manual_backward=True), AutogradQFunction)


def test_a_q_function_without_a_gradient_buffer_cannot_learn() -> None:
    """A target net's Q-function (no gradient buffer) refuses a backward pass."""
    target = AutogradQFunction(q_network().requires_grad_(False), None)
    q, tape = target.forward(torch.ones(2, 3))
    with pytest.raises(AssertionError, match="^this Q-function has no gradient buffer$"):
        target.backward(torch.ones_like(q), tape)


def test_per_tensor_optimizer_state_converts_to_the_flat_state() -> None:
    per_tensor_net = q_network()
    flat_net = copy.deepcopy(per_tensor_net)
    flat = FlatParameters.of(flat_net).data
    per_tensor = torch.optim.Adam(per_tensor_net.parameters(), lr=0.01)
    flat_opt = torch.optim.Adam([flat], lr=0.01)
    for net, opt in ((per_tensor_net, per_tensor), (flat_net, flat_opt)):
        opt.zero_grad(set_to_none=False)  # None would unlink the flat gradient buffer
        net(torch.ones(2, 3)).pow(2).sum().backward()
        opt.step()
    converted = flat_optimizer_state(per_tensor.state_dict())
    expected = flat_opt.state_dict()
    assert converted["param_groups"] == expected["param_groups"]
    for key, value in expected["state"][0].items():
        torch.testing.assert_close(converted["state"][0][key], value)


def dqn(manual: bool, **overrides: Any) -> DQNAgent:
    settings: dict[str, Any] = {
        "device": "cpu",
        "hidden": [16, 16],
        "learning_starts": 8,
        "batch_size": 8,
        "train_frequency": 4,
        "gradient_steps": 3,
        "target_update_interval": 4,
        "replay": {"capacity": 64},
        "manual_backward": manual,
    }
    settings.update(overrides)
    torch.manual_seed(0)
    spec = EnvSpec("Test-v0", BOX3, gym.spaces.Discrete(4), 1)
    return DQNAgent(from_dict(DQNConfig, settings, "agent"), spec, seed=0)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"double": True, "dueling": True, "loss": "mse"},
        {"replay": {"capacity": 64, "prioritized": True, "n_step": 3}, "optimizer": "rmsprop"},
        {"activation": "tanh", "tau": 0.1, "max_grad_norm": 0.5},
    ],
)
def test_dqn_trains_the_same_with_and_without_the_hand_written_pass(
    overrides: dict[str, Any],
) -> None:
    manual, auto = dqn(True, **overrides), dqn(False, **overrides)
    assert isinstance(manual.online_q, ManualQFunction)
    assert isinstance(auto.online_q, AutogradQFunction)
    rng = np.random.default_rng(0)
    for t in range(40):
        obs = rng.normal(size=(1, 3)).astype(np.float32)
        transition = Transition(
            obs,
            np.array([t % 4]),
            np.array([rng.normal()], np.float32),
            obs + 0.1,
            np.array([t % 9 == 8]),
            np.array([False]),
        )
        for agent in (manual, auto):
            agent.observe(transition)
            agent.update()
    assert manual.updates == auto.updates > 0
    torch.testing.assert_close(manual.flat, auto.flat, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(manual.target_flat, auto.target_flat, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_optimizer_step_matches_adam_step(weight_decay: float) -> None:
    nets = [q_network(), q_network()]
    flats = [FlatParameters.of(net).data for net in nets]
    optimizers = [
        torch.optim.Adam([flat], lr=0.01, eps=1e-6, weight_decay=weight_decay, fused=True)
        for flat in flats
    ]
    for i in range(5):
        for net, flat, opt, step in zip(
            nets, flats, optimizers, (optimizer_step, torch.optim.Adam.step), strict=True
        ):
            assert flat.grad is not None
            flat.grad.zero_()
            net(torch.full((2, 3), float(i))).pow(2).sum().backward()
            step(opt)
    torch.testing.assert_close(flats[0], flats[1], rtol=0, atol=0)
    for key in ("step", "exp_avg", "exp_avg_sq"):
        torch.testing.assert_close(
            optimizers[0].state[flats[0]][key], optimizers[1].state[flats[1]][key], rtol=0, atol=0
        )


def test_optimizer_step_matches_adam_step_over_two_groups_and_falls_back_otherwise() -> None:
    """Each group of one flat parameter gets the fused kernel at its own lr (A2C and PPO's
    critic_learning_rate); an optimizer it cannot run fused goes through step()."""
    params = [
        [torch.zeros(4, requires_grad=True), torch.zeros(3, requires_grad=True)] for _ in "ab"
    ]
    optimizers = [
        torch.optim.Adam(
            [{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.01}], fused=True
        )
        for p in params
    ]
    for i in range(4):
        for pair, opt, step in zip(
            params, optimizers, (optimizer_step, torch.optim.Adam.step), strict=True
        ):
            for k, p in enumerate(pair):
                p.grad = torch.linspace(-1.0, 1.0 + i, p.numel()) * (k + 1)
            step(opt)
    for mine, theirs in zip(params[0], params[1], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert params[0][1].abs().max() < params[0][0].abs().max()  # the groups' rates differ
    sgd_param = torch.ones(2, requires_grad=True)
    sgd_param.grad = torch.ones(2)
    optimizer_step(torch.optim.SGD([sgd_param], lr=0.5))
    torch.testing.assert_close(sgd_param.detach(), torch.full((2,), 0.5))


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("foreach", [False, True])
def test_optimizer_step_matches_rmsprop_step_bitwise(
    centered: bool, foreach: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain RMSprop shortcut (DQN on MinAtar, A2C) takes torch's very steps, two groups
    at their own rates; momentum goes through step()."""
    params = [
        [torch.zeros(5, requires_grad=True), torch.zeros(3, requires_grad=True)] for _ in "ab"
    ]
    optimizers = [
        torch.optim.RMSprop(
            [{"params": [p[0]], "lr": 0.1}, {"params": [p[1]], "lr": 0.01}],
            alpha=0.95, eps=0.01, centered=centered, foreach=foreach,
        )
        for p in params
    ]  # fmt: skip
    for i in range(6):
        for pair, opt, step in zip(
            params, optimizers, (optimizer_step, torch.optim.RMSprop.step), strict=True
        ):
            for k, p in enumerate(pair):
                p.grad = torch.sin(torch.arange(p.numel()) * (i + 1.0)) * (k + 1)
            step(opt)
        if i == 0:  # the state exists: from now on the shortcut, never step()
            monkeypatch.setattr(optimizers[0], "step", lambda: pytest.fail("step() ran"))
    for mine, theirs in zip(params[0], params[1], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
        keys = ("step", "square_avg", "grad_avg") if centered else ("step", "square_avg")
        for key in keys:
            torch.testing.assert_close(
                optimizers[0].state[mine][key], optimizers[1].state[theirs][key], rtol=0, atol=0
            )
    moving = torch.zeros(2, requires_grad=True)
    momentum = torch.optim.RMSprop([moving], lr=0.1, momentum=0.9)
    for _ in range(2):
        moving.grad = torch.ones(2)
        optimizer_step(momentum)
    assert "momentum_buffer" in momentum.state[moving]  # step() ran: momentum is kept
