"""DQN's update by hand: TD targets, losses, reported metrics, importance weights, clipping, bursts.

The pure functions of rlkit.agents.dqn.td are checked against values worked out on paper. The
agent tests zero every weight so that Q(s, a) is the head's bias b[a] for any observation, and
the TD target, the TD error and the first Adam step can be worked out on paper too.
"""

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
from rlkit.agents.dqn.td import td_loss, td_loss_grad, td_target
from rlkit.config import from_dict

BOX4 = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


def agent(actions: int = 2, **overrides: Any) -> DQNAgent:
    """A small CPU DQN agent (gamma 0.5) with `overrides` of its config."""
    settings: dict[str, Any] = {
        "device": "cpu",
        "hidden": [8],
        "gamma": 0.5,
        "learning_starts": 1,
        "batch_size": 4,
        "replay": {"capacity": 64},
        "target_update_interval": 10**6,
    }
    settings.update(overrides)
    torch.manual_seed(0)
    spec = EnvSpec("Test-v0", BOX4, gym.spaces.Discrete(actions), 1)
    return DQNAgent(from_dict(DQNConfig, settings, "agent"), spec, seed=0)


def step(action: int, reward: float, obs: float = 0.0) -> Transition:
    """One step of one env whose observation is four copies of `obs`."""
    o = np.full((1, 4), obs, np.float32)
    return Transition(
        o,
        np.array([action]),
        np.array([reward], np.float32),
        o,
        np.array([False]),
        np.array([False]),
    )


REWARD = torch.tensor([1.0, -1.0, 2.0])
DISCOUNT = torch.tensor([0.5, 0.9, 0.0])  # the third episode ended: no bootstrap
NEXT_Q_TARGET = torch.tensor([[5.0, 3.0], [2.0, 4.0], [7.0, 8.0]])
NEXT_Q_ONLINE = torch.tensor([[1.0, 2.0], [3.0, 0.0], [0.0, 1.0]])


def test_td_target_bootstraps_from_the_target_nets_max() -> None:
    # y = r + discount * max_a Q_target(s', a): 1 + 0.5 * 5, -1 + 0.9 * 4, 2 + 0 * 8
    y = td_target(REWARD, DISCOUNT, NEXT_Q_TARGET)
    torch.testing.assert_close(y, torch.tensor([3.5, 2.6, 2.0]))


def test_double_td_target_evaluates_the_online_nets_choice_with_the_target_net() -> None:
    # the online net chooses actions 1, 0 and 1; the target net values them 3, 2 and 8:
    # 1 + 0.5 * 3, -1 + 0.9 * 2, 2 + 0 * 8
    y = td_target(REWARD, DISCOUNT, NEXT_Q_TARGET, NEXT_Q_ONLINE)
    torch.testing.assert_close(y, torch.tensor([2.5, 0.8, 2.0]))


Q = torch.tensor([0.0, 0.0, 0.0, 1.0])
TARGET = torch.tensor([0.5, 2.0, -3.0, 1.0])  # TD errors q - y: -0.5, -2, 3, 0
WEIGHT = torch.tensor([1.0, 0.5, 2.0, 4.0])


@pytest.mark.parametrize(
    ("kind", "weight", "expected"),
    [
        # Huber: 0.5 td^2 within 1, |td| - 0.5 beyond: 0.125, 1.5, 2.5, 0
        ("huber", None, (0.125 + 1.5 + 2.5) / 4),
        ("huber", WEIGHT, (0.125 + 0.5 * 1.5 + 2.0 * 2.5) / 4),
        # squared: 0.25, 4, 9, 0
        ("mse", None, (0.25 + 4.0 + 9.0) / 4),
        ("mse", WEIGHT, (0.25 + 0.5 * 4.0 + 2.0 * 9.0) / 4),
    ],
)
def test_td_loss_by_hand(kind: Any, weight: torch.Tensor | None, expected: float) -> None:
    assert td_loss(Q, TARGET, kind, weight).item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kind", "weight", "expected"),
    [
        # Huber: the TD error clipped to [-1, 1], over the batch size 4
        ("huber", None, [-0.5, -1.0, 1.0, 0.0]),
        ("huber", WEIGHT, [-0.5, -0.5, 2.0, 0.0]),
        # squared: twice the TD error, over 4
        ("mse", None, [-1.0, -4.0, 6.0, 0.0]),
        ("mse", WEIGHT, [-1.0, -2.0, 12.0, 0.0]),
    ],
)
def test_td_loss_grad_by_hand(
    kind: Any, weight: torch.Tensor | None, expected: list[float]
) -> None:
    grad = td_loss_grad(Q, TARGET, kind, weight)
    torch.testing.assert_close(grad, torch.tensor(expected) / 4)


@pytest.mark.parametrize("kind", ["huber", "mse"])
@pytest.mark.parametrize("weighted", [False, True])
def test_td_loss_grad_is_autograds_gradient_of_td_loss(kind: Any, weighted: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    q = (3.0 * torch.randn(64, generator=generator)).requires_grad_()
    target = 3.0 * torch.randn(64, generator=generator)
    weight = torch.rand(64, generator=generator) if weighted else None
    td_loss(q, target, kind, weight).backward()
    torch.testing.assert_close(td_loss_grad(q.detach(), target, kind, weight), q.grad)


@pytest.mark.parametrize("manual_backward", [True, False])
@pytest.mark.parametrize(("loss", "expected"), [("huber", 0.125), ("mse", 0.25)])
def test_metrics_of_a_gradient_step_by_hand(
    manual_backward: bool, loss: str, expected: float
) -> None:
    a = agent(manual_backward=manual_backward, loss=loss)
    set_q(a, online=[1.0, 1.0], target=[1.0, 1.0])
    a.observe(step(0, 1.0))
    metrics = a.update()
    # q = 1, y = 1 + 0.5 * 1 = 1.5: |td| = 0.5, the Huber loss 0.5 * 0.5 ** 2 = 0.125 and the
    # squared error 0.5 ** 2 = 0.25
    assert metrics["q_mean"] == pytest.approx(1.0)
    assert metrics["td_abs"] == pytest.approx(0.5)
    assert metrics["loss"] == pytest.approx(expected)


@pytest.mark.parametrize("manual_backward", [True, False])
@pytest.mark.parametrize(
    ("kind", "weighted", "expected"),
    [
        # the same TD errors as test_td_loss_grad_by_hand: -0.5, -2, 3, 0
        ("huber", False, [-0.5, -1.0, 1.0, 0.0]),
        ("huber", True, [-0.5, -0.5, 2.0, 0.0]),
        ("mse", False, [-1.0, -4.0, 6.0, 0.0]),
        ("mse", True, [-1.0, -2.0, 12.0, 0.0]),
    ],
)
def test_gradient_step_follows_the_configured_loss_and_the_importance_weights(
    manual_backward: bool, kind: str, weighted: bool, expected: list[float]
) -> None:
    """The gradient a step takes is the configured loss's, each sample scaled by its weight."""
    a = agent(4, manual_backward=manual_backward, loss=kind, max_grad_norm=0.0)
    set_q(a, online=[0.0] * 4, target=[0.0] * 4)  # q = 0, and zero features: only biases learn
    batch = Batch(
        torch.zeros(4, 4),
        torch.arange(4),  # sample i takes action i: b[i]'s gradient is sample i's alone
        torch.zeros(4),
        torch.zeros(4, 4),
        torch.zeros(4),
        WEIGHT if weighted else None,
        np.arange(4),
    )
    q, _ = a._gradient_step(batch, TARGET - Q)  # q = 0: the TD errors of Q and TARGET
    torch.testing.assert_close(q, torch.zeros(4))
    grad = a.online.head.advantage.bias.grad
    assert grad is not None
    torch.testing.assert_close(grad, torch.tensor(expected) / 4)
    assert a.grad.abs().sum().item() == pytest.approx(sum(abs(g) for g in expected) / 4)


@pytest.mark.parametrize("manual_backward", [True, False])
def test_training_explores_with_the_schedule_and_evaluation_with_eval_epsilon(
    manual_backward: bool,
) -> None:
    schedule = {"kind": "constant", "start": 1.0}
    a = agent(4, hidden=[], epsilon=schedule, eval_epsilon=0.0, manual_backward=manual_backward)
    with torch.no_grad():  # Q(s) = s
        a.online.head.advantage.weight.copy_(torch.eye(4))
        a.online.head.advantage.bias.zero_()
    obs = np.random.default_rng(3).normal(size=(2_000, 4)).astype(np.float32)
    np.testing.assert_array_equal(a.act(obs, explore=False), obs.argmax(axis=1))
    greedy = np.mean(a.act(obs, explore=True) == obs.argmax(axis=1))
    assert greedy == pytest.approx(0.25, abs=0.04)  # uniformly random: 1 in 4


@pytest.mark.parametrize("loss", ["huber", "mse"])
@pytest.mark.parametrize("prioritized", [False, True])
def test_hand_written_gradient_equals_autograd(loss: str, prioritized: bool) -> None:
    replay = {"capacity": 64, "prioritized": prioritized}
    grads = []
    for manual in (True, False):
        a = agent(manual_backward=manual, loss=loss, replay=replay, max_grad_norm=0.0)
        assert isinstance(a.online_q, ManualQFunction) == manual
        for t in range(6):
            a.observe(step(t % 2, 3.0 * t, obs=0.1 * t))
            a.update()
        grads.append(a.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)


def test_gradients_are_clipped_to_max_grad_norm() -> None:
    def gradient_after_one_step(max_grad_norm: float) -> tuple[float, float]:
        a = agent(max_grad_norm=max_grad_norm)
        set_q(a, online=[0.0, 0.0], target=[0.0, 0.0])  # only b[0] gets a gradient: td = 1e-3
        a.observe(step(0, 1e-3))
        norm = a.update()["grad_norm"]  # before clipping
        return norm, float(torch.linalg.vector_norm(a.grad))

    norm, unclipped = gradient_after_one_step(0.0)  # 0: no clipping
    assert norm == pytest.approx(1e-3, rel=1e-5)
    assert unclipped == pytest.approx(norm, rel=1e-6)
    limit = norm / 10  # clipped to limit * norm / (norm + 1e-6): 1e-6 matters at this scale
    clipped = limit * norm / (norm + 1e-6)
    assert gradient_after_one_step(limit)[1] == pytest.approx(clipped, rel=1e-5)
    assert gradient_after_one_step(1.5 * norm)[1] == pytest.approx(norm, rel=1e-5)  # below it


def test_prioritised_replay_stores_the_td_errors_of_a_gradient_step() -> None:
    replay = {"capacity": 64, "prioritized": True, "alpha": 1.0, "priority_eps": 1e-9}
    a = agent(replay=replay)
    set_q(a, online=[1.0, 1.0], target=[1.0, 1.0])
    a.observe(step(0, 1.0))
    a.update()
    tree = a.replay.sampler.tree  # type: ignore[attr-defined]
    # q = 1 and y = 1 + 0.5 * 1: priority |y - q| + eps = 0.5 (alpha 1)
    assert tree.get(np.array([0]))[0] == pytest.approx(0.5)


def test_beta_0_turns_the_importance_weights_off() -> None:
    losses = []
    for beta in (0.0, 1.0):
        schedule = {"kind": "constant", "start": beta}
        replay = {"capacity": 64, "prioritized": True, "beta": schedule}
        a = agent(replay=replay, learning_starts=2, batch_size=16)
        a.observe(step(0, 0.0))
        a.update()
        a.observe(step(1, 2.0, obs=0.5))
        first = a.update()["loss"]  # both slots enter at the same priority: weights 1
        a.observe(step(0, 1.0, obs=0.2))
        losses.append((first, a.update()["loss"]))  # now the priorities differ
    assert losses[0][0] == losses[1][0]
    assert losses[0][1] != pytest.approx(losses[1][1])


def test_each_gradient_step_of_a_burst_trains_on_its_own_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = agent(gradient_steps=5)
    a.steps_per_draw = 2  # draws serve 2, 2 and 1 gradient steps
    original = a._gradient_step
    rows: list[int] = []

    def spy(batch: Batch, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows.append(len(batch.obs))
        assert len(target) == len(batch.obs)
        return original(batch, target)

    monkeypatch.setattr(a, "_gradient_step", spy)
    a.observe(step(0, 1.0))
    assert set(a.update()) == {"loss", "q_mean", "td_abs", "grad_norm", "epsilon"}
    assert rows == [4] * 5
    assert a.updates == 5


def replay_calls(monkeypatch: pytest.MonkeyPatch, a: DQNAgent) -> list[str]:
    """What `a` asks of its replay memory, in order: 'sample N' and 'update N' (priorities)."""
    calls: list[str] = []
    sample, update_priorities = a.replay.sample, a.replay.update_priorities

    def sample_spy(size: int, *args: Any) -> Any:
        calls.append(f"sample {size}")
        return sample(size, *args)

    def update_spy(index: np.ndarray, td_abs: np.ndarray) -> None:
        calls.append(f"update {len(index)}")
        update_priorities(index, td_abs)

    monkeypatch.setattr(a.replay, "sample", sample_spy)
    monkeypatch.setattr(a.replay, "update_priorities", update_spy)
    return calls


def test_prioritised_replay_draws_each_batch_after_the_last_steps_priority_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = agent(gradient_steps=3, replay={"capacity": 64, "prioritized": True})
    assert a.steps_per_draw >= 3  # uniform replay would serve the burst from one draw
    calls = replay_calls(monkeypatch, a)
    a.observe(step(0, 1.0))
    a.update()
    assert calls == ["sample 4", "update 4"] * 3


def test_uniform_replay_serves_a_burst_from_one_draw_without_priorities(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = agent(gradient_steps=3)
    assert a.steps_per_draw >= 3
    calls = replay_calls(monkeypatch, a)
    a.observe(step(0, 1.0))
    a.update()
    assert calls == ["sample 12"]  # 3 batches of 4 rows; uniform replay has no priorities
    assert a._sample(4).weight is None  # and its batches no importance weights
    assert a.updates == 3


def test_double_dqn_bursts_select_with_the_online_net_as_it_moves() -> None:
    # One transition (s, a=1, r=0, s' = s); Q(s) = [1, 1.0001], Q_target(s) = [10, 0]. Step 1:
    # online picks 1, y = 0.5 * 0 = 0, td = 1.0001: Adam's first step lowers b[1] by the learning
    # rate, to 0.9991 < b[0]. Step 2 must select action 0: y = 0.5 * 10 = 5 raises b[1] again.
    a = agent(double=True, hidden=[], gradient_steps=2, learning_rate=1e-3, max_grad_norm=0.0)
    set_q(a, online=[1.0, 1.0001], target=[10.0, 0.0])
    a.observe(step(1, 0.0))
    a.update()
    assert a.updates == 2
    assert a.online.head.advantage.bias[1].item() > 1.0001 - 1e-3
