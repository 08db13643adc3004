"""Policy heads, distributions, acting (sampling, clipping), networks, optimizers, configs."""

import ast
import inspect
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agent import EnvSpec
from rlkit.agents.pg import a2c, reinforce
from rlkit.agents.pg.losses import policy_gradient_loss
from rlkit.agents.pg.policies import (
    ActorCritic,
    CategoricalHead,
    GaussianHead,
    PolicyGradientConfig,
    PolicySampler,
    build_actor_critic,
    build_optimizer,
    check_box_only_options,
    check_policy_spaces,
    clip_and_step,
    decay_learning_rate,
    numpy_policy,
)
from rlkit.config import from_dict
from rlkit.errors import ConfigError, SpaceError
from rlkit.nn.networks import NatureCNN
from rlkit.nn.numpy_mlp import mlp_forward

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
CPU = torch.device("cpu")


def spec(obs: gym.Space[Any] = BOX4, act: gym.Space[Any] | None = None) -> EnvSpec:
    return EnvSpec("Test-v0", obs, act if act is not None else gym.spaces.Discrete(3), 2)


def config(**overrides: Any) -> PolicyGradientConfig:
    return from_dict(PolicyGradientConfig, {"hidden": [8], "device": "cpu", **overrides}, "agent")


def test_categorical_log_prob_and_entropy_match_torch() -> None:
    head = CategoricalHead(3, 4)
    logits = torch.randn(5, 4)
    actions = torch.tensor([0, 3, 1, 2, 2])
    log_prob, entropy = head.log_prob_entropy(logits, actions)
    reference = torch.distributions.Categorical(logits=logits)
    torch.testing.assert_close(log_prob, reference.log_prob(actions))
    torch.testing.assert_close(entropy, reference.entropy())


def test_gaussian_log_prob_and_entropy_match_torch() -> None:
    head = GaussianHead(3, 2, log_std_init=-0.5)
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([-0.5, 0.3]))
    mean = torch.randn(5, 2)
    actions = torch.randn(5, 2) * 2
    log_prob, entropy = head.log_prob_entropy(mean, actions)
    reference = torch.distributions.Normal(mean, head.log_std.exp())
    torch.testing.assert_close(log_prob, reference.log_prob(actions).sum(1))
    torch.testing.assert_close(entropy, reference.entropy().sum(1))


def test_gaussian_log_std_is_learned_and_state_independent() -> None:
    head = GaussianHead(3, 2, log_std_init=0.7)
    assert isinstance(head.log_std, torch.nn.Parameter)
    torch.testing.assert_close(head.log_std.detach(), torch.full((2,), 0.7))
    _, entropy = head.log_prob_entropy(torch.randn(4, 2), torch.zeros(4, 2))
    entropy.sum().backward()
    assert head.log_std.grad is not None
    assert torch.all(entropy == entropy[0])


def test_gumbel_max_samples_follow_the_softmax() -> None:
    head = CategoricalHead(1, 3)
    logits = np.log(np.array([[0.2, 0.5, 0.3]] * 20_000))
    counts = np.bincount(head.sample(logits, np.random.default_rng(0)), minlength=3)
    np.testing.assert_allclose(counts / counts.sum(), [0.2, 0.5, 0.3], atol=0.015)
    assert head.mode(np.array([[0.1, 2.0, -1.0]])).tolist() == [1]


def test_gaussian_samples_have_the_learned_std() -> None:
    head = GaussianHead(1, 1, log_std_init=np.log(0.5))
    samples = head.sample(np.full((20_000, 1), 0.3, np.float32), np.random.default_rng(0))
    assert samples.mean() == pytest.approx(0.3, abs=0.01)
    assert samples.std() == pytest.approx(0.5, abs=0.01)


def test_gaussian_samples_keep_the_dtype_of_the_mean() -> None:
    head = GaussianHead(1, 2, log_std_init=0.0)
    for dtype in (np.float32, np.float64):
        assert head.sample(np.zeros((3, 2), dtype), np.random.default_rng(0)).dtype == dtype


def box_actor(log_std: float = 1.0) -> PolicySampler:
    box = gym.spaces.Box(-0.5, 0.5, (2,), np.float32)
    net = build_actor_critic(config(log_std_init=log_std), spec(act=box), with_value=True)
    return PolicySampler(net, box, CPU)


def test_box_actions_are_clipped_and_the_unclipped_sample_is_scored() -> None:
    actor = box_actor(log_std=1.0)  # std e: most samples fall outside [-0.5, 0.5]
    obs = np.zeros((64, 4), np.float32)
    sent = actor.act(obs, explore=True, rng=np.random.default_rng(0))
    assert sent.shape == (64, 2)
    assert sent.dtype == np.float32
    assert sent.min() >= -0.5
    assert sent.max() <= 0.5
    taken = actor.taken(sent)
    assert np.abs(taken).max() > 0.5  # the raw Gaussian samples, as SB3 scores them
    np.testing.assert_array_equal(np.clip(taken, -0.5, 0.5), sent)
    other = np.zeros((64, 2), np.float32)
    assert actor.taken(other) is other  # not what we sent: scored as given


def test_greedy_box_action_is_the_clipped_mean() -> None:
    actor = box_actor()
    with torch.no_grad():
        actor.net.head.linear.weight.zero_()
        actor.net.head.linear.bias.copy_(torch.tensor([0.2, 3.0]))
    greedy = actor.act(np.zeros((3, 4), np.float32), explore=False, rng=np.random.default_rng(0))
    np.testing.assert_allclose(greedy, [[0.2, 0.5]] * 3)


def test_numpy_policy_matches_torch_and_follows_parameter_updates() -> None:
    torch.manual_seed(0)
    net = build_actor_critic(config(hidden=[16, 16]), spec(), with_value=True)
    layers = numpy_policy(net, CPU)
    assert layers is not None
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)

    def check() -> None:
        with torch.no_grad():
            expected = net.policy_params(torch.as_tensor(obs)).numpy()
        np.testing.assert_allclose(mlp_forward(layers, obs), expected, rtol=1e-5, atol=1e-6)

    check()
    optimizer = build_optimizer(net, config())
    loss = net.policy_params(torch.as_tensor(obs)).pow(2).sum()
    backward_and_step(loss, optimizer, net, max_grad_norm=0.0)  # in-place update shows through
    check()
    net.load_state_dict(build_actor_critic(config(hidden=[16, 16]), spec(), True).state_dict())
    check()


def test_numpy_policy_only_for_mlps_on_the_cpu() -> None:
    pixels = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)  # small frames: a quick init
    cnn = build_actor_critic(config(), spec(obs=pixels), with_value=True)
    assert isinstance(cnn.actor_trunk, NatureCNN)
    assert numpy_policy(cnn, CPU) is None
    mlp = build_actor_critic(config(), spec(), with_value=True)
    assert numpy_policy(mlp, torch.device("cuda")) is None


def test_shared_and_separate_trunks() -> None:
    shared = build_actor_critic(config(shared_trunk=True), spec(), with_value=True)
    separate = build_actor_critic(config(shared_trunk=False), spec(), with_value=True)
    no_value = build_actor_critic(config(), spec(), with_value=False)
    assert shared.critic_trunk is None
    assert shared.value_head is not None
    assert separate.critic_trunk is not None
    assert no_value.critic_trunk is None
    assert no_value.value_head is None
    obs, actions = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    assert no_value.evaluate(obs, actions)[2] is None
    _, _, values = shared.evaluate(obs, actions)
    assert values is not None
    torch.testing.assert_close(values, shared.values(obs))
    values.sum().backward()  # the value loss reaches the shared trunk, not the policy head
    assert shared.actor_trunk.body[0].weight.grad.abs().sum() > 0
    assert shared.head.linear.weight.grad.abs().sum() == 0


def test_orthogonal_init_gains() -> None:
    torch.manual_seed(0)
    net = build_actor_critic(config(hidden=[64]), spec(), with_value=True)
    head, first = net.head.linear.weight, net.actor_trunk.body[0].weight
    # orthogonal rows scaled by the gain: each row of a (3, 64) head has norm 0.01
    torch.testing.assert_close(head.norm(dim=1), torch.full((3,), 0.01))
    torch.testing.assert_close(first.norm(dim=0), torch.full((4,), 2**0.5))
    assert net.value_head is not None
    assert all(b.abs().sum() == 0 for n, b in net.named_parameters() if n.endswith("bias"))


def test_critic_learning_rate_and_linear_decay() -> None:
    net = build_actor_critic(config(critic_learning_rate=0.05), spec(), with_value=True)
    optimizer = build_optimizer(net, config(learning_rate=0.01, critic_learning_rate=0.05))
    actor_group, critic_group = optimizer.param_groups
    assert (actor_group["lr"], critic_group["lr"]) == (0.01, 0.05)
    (critic_buffer,) = critic_group["params"]  # the value-only parameters, flattened
    assert critic_buffer.numel() == sum(p.numel() for p in net.critic_parameters())
    assert critic_buffer.numel() + actor_group["params"][0].numel() == sum(
        p.numel() for p in net.parameters()
    )
    assert decay_learning_rate(optimizer, 250, 1000) == pytest.approx(0.0075)
    assert critic_group["lr"] == pytest.approx(0.0375)
    assert decay_learning_rate(optimizer, 5000, 1000) == 0.0
    assert decay_learning_rate(optimizer, 5000, 0) == 0.0  # 0: no decay, lr left as it is
    assert isinstance(optimizer, torch.optim.RMSprop)
    assert optimizer.defaults["alpha"] == 0.99
    assert optimizer.defaults["eps"] == 1e-5
    plain = build_actor_critic(config(), spec(), with_value=True)
    adam = build_optimizer(plain, config(optimizer="adam"))
    assert isinstance(adam, torch.optim.Adam)
    assert len(adam.param_groups) == 1


def test_clip_and_step_clips_the_norm() -> None:
    net = build_actor_critic(config(), spec(), with_value=True)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    loss = net.values(torch.randn(8, 4)).sum() * 1000
    norm = backward_and_step(loss, optimizer, net, max_grad_norm=0.5)
    assert norm > 0.5
    grads = [p.grad.flatten() for p in net.parameters() if p.grad is not None]
    assert torch.cat(grads).norm().item() == pytest.approx(0.5, rel=1e-4)


def test_learning_rate_decays_to_0_over_one_step() -> None:
    net = build_actor_critic(config(), spec(), with_value=True)
    optimizer = build_optimizer(net, config(learning_rate=0.01))
    assert decay_learning_rate(optimizer, 0, 1) == 0.01
    assert decay_learning_rate(optimizer, 1, 1) == 0.0


def _gradient_norms(max_grad_norm: float, **settings: Any) -> tuple[float, float]:
    """(norm clip_and_step returns, norm of the gradients it leaves) for a fixed loss."""
    torch.manual_seed(0)
    net = build_actor_critic(config(**settings), spec(), with_value=True)
    obs = torch.ones(8, 4)
    loss = (net.policy_params(obs).sum() + net.values(obs).sum()) * 1e-4
    norm = backward_and_step(loss, torch.optim.SGD(net.parameters(), lr=0.0), net, max_grad_norm)
    grads = torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])
    return norm, grads.norm().item()


@pytest.mark.parametrize("critic_learning_rate", [None, 0.05])
def test_clip_and_step_norm_covers_every_parameter_group(critic_learning_rate: Any) -> None:
    settings = {"critic_learning_rate": critic_learning_rate, "shared_trunk": False}
    norm, left = _gradient_norms(0.0, **settings)  # 0: no clipping
    assert norm == pytest.approx(left, rel=1e-6)


def test_clip_and_step_clips_to_max_norm_over_norm_plus_1e_6() -> None:
    norm, _ = _gradient_norms(0.0)
    limit = norm / 10
    assert _gradient_norms(limit)[1] == pytest.approx(limit * norm / (norm + 1e-6), rel=1e-4)
    assert _gradient_norms(1.5 * norm)[1] == pytest.approx(norm, rel=1e-5)  # below: untouched


def test_policy_gradient_loss_parts() -> None:
    log_prob = torch.tensor([-1.0, -2.0])
    entropy = torch.tensor([0.5, 0.7])
    weights = torch.tensor([2.0, 1.0])
    values, returns = torch.tensor([1.0, 1.0]), torch.tensor([3.0, 0.0])
    loss = policy_gradient_loss(log_prob, entropy, weights, values, returns, 0.5, 0.1)
    # policy -(2*-1 + 1*-2)/2 = 2; value (4 + 1)/2 = 2.5; entropy 0.6
    assert loss.parts["policy_loss"].item() == pytest.approx(2.0)
    assert loss.parts["value_loss"].item() == pytest.approx(2.5)
    assert loss.parts["entropy"].item() == pytest.approx(0.6)
    assert loss.total.item() == pytest.approx(2.0 + 0.5 * 2.5 - 0.1 * 0.6)
    # gradients: -w / 2, 2 * 0.5 * (V - R) / 2, -0.1 / 2
    torch.testing.assert_close(loss.grads.log_prob, torch.tensor([-1.0, -0.5]))
    torch.testing.assert_close(loss.grads.values, torch.tensor([-1.0, 0.5]))
    torch.testing.assert_close(loss.grads.entropy, torch.tensor([-0.05, -0.05]))
    no_value = policy_gradient_loss(log_prob, entropy, weights, None, returns, 0.5, 0.1)
    assert "value_loss" not in no_value.parts
    assert no_value.grads.values is None
    assert no_value.total.item() == pytest.approx(2.0 - 0.06)
    assert (
        policy_gradient_loss(log_prob, entropy, weights, None, returns, 0.5, 0.0).grads.entropy
        is None
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"learning_rate": 0.0}, "learning_rate must be > 0, got 0.0"),
        ({"gamma": 0.0}, "gamma must be in (0, 1], got 0.0"),
        ({"gamma": 1.5}, "gamma must be in (0, 1], got 1.5"),
        ({"critic_learning_rate": -1.0}, "critic_learning_rate must be > 0"),
        ({"critic_learning_rate": 0.1, "shared_trunk": True}, "critic_learning_rate needs"),
        ({"entropy_coef": -0.1}, "entropy_coef must be >= 0"),
        ({"hidden": [0]}, "hidden sizes must be >= 1"),
    ],
)
def test_config_range_checks_name_the_field(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="^agent." + message.replace("(", r"\(").split(",")[0]):
        config(**settings)


def test_space_checks() -> None:
    check_policy_spaces(spec(), "a2c")
    check_policy_spaces(spec(act=gym.spaces.Box(-1, 1, (2,))), "a2c")
    with pytest.raises(SpaceError, match="'a2c' needs Box observations.*Discrete"):
        check_policy_spaces(spec(obs=gym.spaces.Discrete(4)), "a2c")
    with pytest.raises(SpaceError, match="Discrete actions from 0 or Box actions.*MultiDiscrete"):
        check_policy_spaces(spec(act=gym.spaces.MultiDiscrete([2, 2])), "a2c")
    with pytest.raises(SpaceError, match="Discrete actions from 0"):
        check_policy_spaces(spec(act=gym.spaces.Discrete(3, start=-1)), "reinforce")
    with pytest.raises(SpaceError, match="log_std_init applies to Box.*Discrete"):
        check_box_only_options(config(log_std_init=-1.0), spec(), "a2c")
    check_box_only_options(config(log_std_init=-1.0), spec(act=gym.spaces.Box(-1, 1)), "a2c")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (inspect.getmodule(PolicyGradientConfig), "PolicyGradientConfig"),
        (a2c, "A2CConfig"),
        (reinforce, "ReinforceConfig"),
    ],
)
def test_every_config_field_has_a_docstring(module: Any, name: str) -> None:
    tree = ast.parse(inspect.getsource(module))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    fields = 0
    for i, node in enumerate(cls.body):
        if isinstance(node, ast.AnnAssign):
            fields += 1
            following = cls.body[i + 1]
            assert isinstance(following, ast.Expr), f"field {ast.unparse(node.target)}"
            assert isinstance(following.value, ast.Constant)
    assert fields > 0


def backward_and_step(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, net: ActorCritic, max_grad_norm: float
) -> float:
    """Autograd's gradient of `loss` into the flat buffers, then clip_and_step."""
    for group in net.flat_groups:
        group.zero_grad()
    loss.backward()
    return float(clip_and_step(optimizer, net, max_grad_norm))
