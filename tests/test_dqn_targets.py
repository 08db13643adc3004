"""DQN's update by hand: TD targets, reported metrics, importance weights, clipping, bursts.

Most tests zero every weight so that Q(s, a) is the head's bias b[a] for any observation, and the
TD target, the TD error and the first Adam step can be worked out on paper.
"""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from helpers import set_q

from rlkit.agent import EnvSpec, Transition
from rlkit.agents.dqn import DQNAgent, DQNConfig
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


@pytest.mark.parametrize("manual_backward", [True, False])
def test_metrics_of_a_gradient_step_by_hand(manual_backward: bool) -> None:
    a = agent(manual_backward=manual_backward)
    set_q(a, online=[1.0, 1.0], target=[1.0, 1.0])
    a.observe(step(0, 1.0))
    metrics = a.update()
    # q = 1, y = 1 + 0.5 * 1 = 1.5: |td| = 0.5 and the Huber loss 0.5 * 0.5 ** 2 = 0.125
    assert metrics["q_mean"] == pytest.approx(1.0)
    assert metrics["td_abs"] == pytest.approx(0.5)
    assert metrics["loss"] == pytest.approx(0.125)


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
        assert (a.backprop is not None) == manual
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

    def spy(obs: torch.Tensor, *args: Any) -> dict[str, float]:
        rows.append(len(obs))
        return original(obs, *args)

    monkeypatch.setattr(a, "_gradient_step", spy)
    a.observe(step(0, 1.0))
    assert set(a.update()) == {"loss", "q_mean", "td_abs", "grad_norm", "epsilon"}
    assert rows == [4] * 5
    assert a.updates == 5


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
