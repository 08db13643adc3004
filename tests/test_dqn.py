"""DQN family: heads, targets, target updates, spaces, NaN handling, save/load."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import set_q

from rlkit.agent import EnvSpec, Transition
from rlkit.agents.dqn import DQNAgent, DQNConfig
from rlkit.agents.dqn.agent import Batch
from rlkit.agents.dqn.qfunction import ManualQFunction
from rlkit.config import from_dict
from rlkit.errors import NonFiniteLossError, SpaceError
from rlkit.nn.networks import NatureCNN, QHead

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


TWO_ACTIONS = gym.spaces.Discrete(2)


def spec(obs: gym.Space[Any] = BOX4, act: gym.Space[Any] = TWO_ACTIONS) -> EnvSpec:
    return EnvSpec("Test-v0", obs, act, 1)


def agent(act: gym.Space[Any] = TWO_ACTIONS, **overrides: Any) -> DQNAgent:
    settings: dict[str, Any] = {
        "device": "cpu",
        "hidden": [8],
        "learning_starts": 4,
        "batch_size": 4,
        "replay": {"capacity": 64},
    }
    settings.update(overrides)
    torch.manual_seed(0)
    return DQNAgent(from_dict(DQNConfig, settings, "agent"), spec(act=act), seed=0)


def step(obs: float, action: int, reward: float, terminated: bool = False) -> Transition:
    o = np.full((1, 4), obs, np.float32)
    return Transition(
        o,
        np.array([action]),
        np.array([reward], np.float32),
        o + 0.1,
        np.array([terminated]),
        np.array([False]),
    )


def test_dueling_mean_is_per_sample_over_actions() -> None:
    head = QHead(features=3, num_actions=2, dueling=True)
    with torch.no_grad():
        assert head.value is not None
        head.value.weight.zero_()
        head.value.bias.fill_(10.0)  # V = 10 for every sample
        head.advantage.weight.zero_()
        head.advantage.bias.copy_(torch.tensor([1.0, 3.0]))  # A = [1, 3]: mean 2 per sample
    q = head(torch.zeros(5, 3))
    # Q = V + A - mean_a A = 10 + [1, 3] - 2 = [9, 11], the same for every sample of the
    # batch (the source's bug took the mean over the whole batch tensor).
    torch.testing.assert_close(q, torch.tensor([[9.0, 11.0]] * 5))


def test_dueling_mean_does_not_mix_samples() -> None:
    """Each sample's advantages are centred on their own mean, not the batch's."""
    head = QHead(features=1, num_actions=2, dueling=True)
    with torch.no_grad():
        assert head.value is not None
        head.value.weight.zero_()
        head.value.bias.zero_()
        head.advantage.weight.copy_(torch.tensor([[1.0], [0.0]]))
        head.advantage.bias.zero_()
    q = head(torch.tensor([[1.0], [5.0]]))  # A = [1, 0] and [5, 0]: means 0.5 and 2.5
    # Q = A - mean_a A = [0.5, -0.5] and [2.5, -2.5]; the batch's mean (1.5) would give
    # [-0.5, -1.5] and [3.5, -1.5].
    torch.testing.assert_close(q, torch.tensor([[0.5, -0.5], [2.5, -2.5]]))


def batch_of(next_obs: torch.Tensor, reward: float, discount: float) -> Batch:
    """A batch whose every row has next observation `next_obs[i]`, `reward` and `discount`."""
    n = len(next_obs)
    return Batch(
        next_obs,
        torch.zeros(n, dtype=torch.int64),
        torch.full((n,), reward),
        next_obs,
        torch.full((n,), discount),
        None,
        np.arange(n),
    )


def dueling_agent(manual_backward: bool) -> DQNAgent:
    """A dueling agent whose nets give Q(s) = [s0 / 2, -s0 / 2] (V = 0, A = [s0, 0])."""
    a = agent(dueling=True, hidden=[], manual_backward=manual_backward)
    assert isinstance(a.online_q, ManualQFunction) == manual_backward
    with torch.no_grad():
        for net in (a.online, a.target):
            for p in net.parameters():
                p.zero_()
            net.head.advantage.weight[0, 0] = 1.0
    return a


@pytest.mark.parametrize("manual_backward", [True, False])
def test_dueling_q_values_of_a_sample_do_not_depend_on_the_rest_of_the_batch(
    manual_backward: bool,
) -> None:
    """A dueling agent's Q-values and TD targets for a sample do not depend on its batch."""
    # Through the passes the agent trains with (online and target nets) and acts with (numpy).
    a = dueling_agent(manual_backward)
    obs = np.zeros((3, 4), np.float32)
    obs[:, 0] = [1.0, 5.0, -2.0]
    expected = torch.tensor([[0.5, -0.5], [2.5, -2.5], [-1.0, 1.0]])
    # the batch mean of A = [s0, 0] is 2 / 3, which would shift every Q by 0.5 * s0 - 2/3.
    for rows in (slice(0, 3), slice(0, 1), slice(1, 2), slice(2, 3)):
        states = torch.as_tensor(obs[rows])
        for q_function in (a.online_q, a.target_q):
            torch.testing.assert_close(q_function.q_values(states), expected[rows])
            torch.testing.assert_close(q_function.forward(states)[0], expected[rows])
        acting_q = a.online_q.act_q_values(obs[rows])  # numpy on a CPU when hand-written
        np.testing.assert_allclose(acting_q, expected[rows].numpy(), rtol=1e-6)
        y = a._td_target(batch_of(states, reward=1.0, discount=0.5))
        torch.testing.assert_close(y, 1.0 + 0.5 * expected[rows].max(dim=1).values)


@pytest.mark.parametrize("manual_backward", [True, False])
@pytest.mark.parametrize("double", [False, True])
def test_td_target_selects_with_online_when_double(double: bool, manual_backward: bool) -> None:
    """In the hand-written pass and in autograd's, the online net selects only when double."""
    a = agent(double=double, manual_backward=manual_backward)
    set_q(a, online=[1.0, 2.0], target=[5.0, 3.0])
    y = a._td_target(batch_of(torch.zeros(1, 4), reward=1.0, discount=0.5))
    # DQN: 1 + 0.5 * max(5, 3) = 3.5. Double: online picks action 1, target values it 3:
    # 1 + 0.5 * 3 = 2.5.
    assert y.item() == pytest.approx(2.5 if double else 3.5)


def test_hard_and_soft_target_updates() -> None:
    hard = agent(target_update_interval=3, tau=1.0)
    with torch.no_grad():
        for p in hard.online.parameters():
            p.add_(1.0)
    for _ in range(2):
        hard.observe(step(0.0, 0, 1.0))
        hard.update()
    assert not torch.equal(next(hard.target.parameters()), next(hard.online.parameters()))
    hard.observe(step(0.0, 0, 1.0))
    hard.update()
    assert torch.equal(next(hard.target.parameters()), next(hard.online.parameters()))

    soft = agent(target_update_interval=1, tau=0.25, learning_starts=10**6)
    before = next(soft.target.parameters()).clone()
    with torch.no_grad():
        next(soft.online.parameters()).add_(4.0)
    soft.observe(step(0.0, 0, 1.0))
    soft.update()
    # target = 0.75 * target + 0.25 * (target + 4) = target + 1
    torch.testing.assert_close(next(soft.target.parameters()), before + 1.0)


def test_the_target_network_changes_only_every_target_update_interval_steps() -> None:
    """The target net changes only every target_update_interval steps, the online net every step."""
    a = agent(target_update_interval=3, learning_starts=1)
    changed = []
    for t in range(1, 13):
        target, online = a.target_flat.clone(), a.flat.clone()
        a.observe(step(float(t % 4), t % 2, 1.0))
        a.update()
        assert not torch.equal(a.flat, online)
        changed.append(not torch.equal(a.target_flat, target))
        if t % 3 == 0:
            torch.testing.assert_close(a.target_flat, a.flat, rtol=0, atol=0)
    assert [t for t, moved in enumerate(changed, start=1) if moved] == [3, 6, 9, 12]


@pytest.mark.parametrize("epsilon", [0.0, 0.3, 1.0])
def test_epsilon_greedy_takes_the_argmax_with_probability_1_minus_epsilon(epsilon: float) -> None:
    """Epsilon-greedy: argmax Q w.p. 1 - epsilon + epsilon / 4, each other action epsilon / 4."""
    # epsilon is the training schedule's value (explore) or eval_epsilon (evaluation).
    schedule = {"kind": "constant", "start": epsilon}
    a = agent(act=gym.spaces.Discrete(4), hidden=[], epsilon=schedule, eval_epsilon=epsilon)
    with torch.no_grad():  # no hidden layer and an identity head: Q(s) = s
        a.online.head.advantage.weight.copy_(torch.eye(4))
        a.online.head.advantage.bias.zero_()
    obs = np.random.default_rng(3).normal(size=(4_000, 4)).astype(np.float32)
    expected = [1 - epsilon + epsilon / 4, epsilon / 4, epsilon / 4, epsilon / 4]
    for explore in (True, False):
        offset = (a.act(obs, explore) - obs.argmax(axis=1)) % 4  # 0: the greedy action
        frequency = np.bincount(offset, minlength=4) / len(obs)
        # binomial std <= sqrt(0.25 / 4000) = 0.008: the tolerance is 3.75 of them
        np.testing.assert_allclose(frequency, expected, atol=0.03)
        if epsilon == 0.0:
            np.testing.assert_array_equal(offset, 0)


@pytest.mark.parametrize("epsilon", [0.5, 1.0])
def test_random_actions_of_a_batch_are_drawn_independently(epsilon: float) -> None:
    """Envs that act at random each draw their own action, also when all see the same state."""
    schedule = {"kind": "constant", "start": epsilon}
    a = agent(act=gym.spaces.Discrete(4), hidden=[], epsilon=schedule)
    with torch.no_grad():  # Q(s) = s: action 0 is greedy in the state (1, 0, 0, 0)
        a.online.head.advantage.weight.copy_(torch.eye(4))
        a.online.head.advantage.bias.zero_()
    obs = np.zeros((4_000, 4), np.float32)
    obs[:, 0] = 1.0
    actions = a.act(obs, explore=True)
    assert actions.shape == (4_000,)
    frequency = np.bincount(actions, minlength=4) / len(obs)
    # 1 - epsilon + epsilon / 4 for the greedy action, epsilon / 4 for each other one (one draw
    # shared by the batch would give all the random envs the same action)
    expected = [1 - epsilon + epsilon / 4, epsilon / 4, epsilon / 4, epsilon / 4]
    np.testing.assert_allclose(frequency, expected, atol=0.03)


def test_update_reports_the_epsilon_of_the_current_step() -> None:
    schedule = {"kind": "linear", "start": 1.0, "end": 0.0, "steps": 100}
    a = agent(epsilon=schedule)
    for i in range(6):
        a.observe(step(float(i), 0, 1.0))
        metrics = a.update()
    assert metrics["epsilon"] == pytest.approx(0.94)  # 6 of the schedule's 100 steps


def test_learning_starts_and_train_frequency() -> None:
    a = agent(learning_starts=6, train_frequency=2, gradient_steps=3)
    for i in range(6):
        a.observe(step(float(i), 0, 1.0))
        assert a.update() == {}  # replay reaches 6 on the 6th step: 1 of 2 steps counted
    a.observe(step(6.0, 1, 1.0))  # the 2nd step since learning started: a burst of 3
    metrics = a.update()
    assert set(metrics) == {"loss", "q_mean", "td_abs", "grad_norm", "epsilon"}
    assert a.updates == 3
    a.observe(step(7.0, 1, 1.0))
    assert a.update() == {}
    a.observe(step(8.0, 1, 1.0))
    a.update()
    assert a.updates == 6


def test_nan_loss_stops_with_a_clear_error() -> None:
    a = agent()
    for i in range(4):
        a.observe(step(float(i), 0, float("nan")))
    with pytest.raises(
        NonFiniteLossError, match=r"the DQN loss became nan at step 4 \(update 1\).*last good"
    ):
        a.update()


def test_state_dict_round_trip_continues_identically() -> None:
    a, b = agent(), agent()
    for i in range(6):
        a.observe(step(float(i), i % 2, 1.0))
        a.update()
    b.load_state_dict(a.state_dict())
    obs = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    for i in range(6, 10):
        for x in (a, b):
            x.observe(step(float(i), i % 2, 1.0))
            x.update()
        np.testing.assert_array_equal(a.act(obs, True), b.act(obs, True))
    for pa, pb in zip(a.online.parameters(), b.online.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_space_errors_name_the_problem() -> None:
    with pytest.raises(SpaceError, match="Discrete action space.*Box"):
        DQNAgent.check_spaces(spec(act=gym.spaces.Box(-1, 1, (1,))))
    with pytest.raises(SpaceError, match="Box observations.*tabular"):
        DQNAgent.check_spaces(spec(obs=gym.spaces.Discrete(5)))


def test_nature_cnn_on_uint8_stacks() -> None:
    net = NatureCNN(4)
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    assert net(frames).shape == (2, 512)
    pixels = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    torch.manual_seed(0)
    cnn_agent = DQNAgent(
        from_dict(DQNConfig, {"device": "cpu", "replay": {"capacity": 100}}, "agent"),
        spec(obs=pixels, act=gym.spaces.Discrete(6)),
        0,
    )
    assert isinstance(cnn_agent.online.trunk, NatureCNN)
    assert cnn_agent.act(frames.numpy(), explore=False).shape == (2,)
