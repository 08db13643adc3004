"""REINFORCE: episodes per sub-env, returns and truncation, the taken action's gradient,
baseline, save/load and runs through the runner."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agent import EnvSpec, Transition
from rlkit.agents.pg.reinforce import ReinforceAgent, ReinforceConfig
from rlkit.config import from_dict
from rlkit.errors import NonFiniteLossError, SpaceError
from rlkit.experiment import load_experiment
from rlkit.plot import read_scalars
from rlkit.training.runner import train

BOX2 = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)


def agent(act: gym.Space[Any] | None = None, **overrides: Any) -> ReinforceAgent:
    settings: dict[str, Any] = {"device": "cpu", "hidden": [8], **overrides}
    torch.manual_seed(0)
    spec = EnvSpec("Test-v0", BOX2, act or gym.spaces.Discrete(2), 2)
    return ReinforceAgent(from_dict(ReinforceConfig, settings, "agent"), spec, seed=0)


def step(
    xs: tuple[float, float],
    rewards: tuple[float, float] = (1.0, 1.0),
    terminated: tuple[bool, bool] = (False, False),
    truncated: tuple[bool, bool] = (False, False),
    actions: tuple[int, int] = (0, 1),
) -> Transition:
    """A vector step of two envs with observations [x, 0] and next observations [x + 1, 0]."""
    obs = np.array([[x, 0.0] for x in xs], np.float32)
    return Transition(
        obs,
        np.array(actions),
        np.array(rewards, np.float32),
        obs + np.array([1.0, 0.0], np.float32),
        np.array(terminated),
        np.array(truncated),
    )


def test_episodes_are_collected_per_sub_env() -> None:
    a = agent(episodes_per_update=2)
    a.observe(step((0, 10)))
    a.observe(step((1, 11), rewards=(2, 1), terminated=(True, False)))
    assert len(a.episodes.finished) == 1
    assert a.update() == {}  # one finished episode of the two an update needs
    a.observe(step((20, 12), rewards=(1, 3), truncated=(False, True)))
    first, second = a.episodes.finished
    np.testing.assert_array_equal(first.obs[:, 0], [0, 1])
    np.testing.assert_array_equal(first.rewards, [1, 2])
    np.testing.assert_array_equal(first.actions, [0, 0])
    assert first.final_obs is None  # terminated
    np.testing.assert_array_equal(second.obs[:, 0], [10, 11, 12])
    np.testing.assert_array_equal(second.actions, [1, 1, 1])
    np.testing.assert_array_equal(second.final_obs, [13, 0])  # truncated: kept for bootstrap
    assert set(a.update()) == {"policy_loss", "entropy", "grad_norm"}
    assert a.episodes.finished == []
    assert [len(p["rewards"]) for p in a.episodes.partial] == [1, 0]  # env 0 is mid-episode


@pytest.mark.parametrize("baseline", [True, False])
def test_truncated_episodes_bootstrap_only_with_a_baseline(baseline: bool) -> None:
    a = agent(baseline=baseline, hidden=[], gamma=0.5)
    if baseline:
        assert a.net.value_head is not None
        with torch.no_grad():  # V(s) = s[0]
            a.net.value_head.weight.copy_(torch.tensor([[1.0, 0.0]]))
            a.net.value_head.bias.zero_()
    a.observe(step((0, 5)))
    a.observe(step((1, 6), terminated=(True, False), truncated=(False, True)))
    returns = a.returns(a.episodes.finished)
    # terminated: [1 + 0.5, 1]; truncated at final obs x=7: G1 = 1 + 0.5 * V = 4.5 (or 1),
    # G0 = 1 + 0.5 * G1
    tail = [3.25, 4.5] if baseline else [1.5, 1.0]
    np.testing.assert_allclose(returns, [1.5, 1.0, *tail])


@pytest.mark.parametrize("action", [0, 1])
def test_the_update_raises_the_probability_of_the_taken_action(action: int) -> None:
    # The source's loss ignored which action was taken; here a rewarded action gets likelier.
    a = agent(standardize=False, learning_rate=0.05)
    obs = np.zeros((1, 2), np.float32)

    def probability() -> float:
        logits = a.actor.policy_params(obs)[0]
        return float(np.exp(logits[action]) / np.exp(logits).sum())

    before = probability()
    a.observe(step((0, 0), terminated=(True, True), actions=(action, action)))
    a.update()
    assert probability() > before + 0.01


def test_the_baseline_is_subtracted_from_the_returns() -> None:
    """With a baseline, an action whose return falls short of V(s) gets less likely."""
    a = agent(baseline=True, standardize=False, hidden=[], learning_rate=0.05)
    assert a.net.value_head is not None
    with torch.no_grad():  # V(s) = s[0] and a uniform policy
        a.net.value_head.weight.copy_(torch.tensor([[1.0, 0.0]]))
        a.net.value_head.bias.zero_()
        a.net.head.linear.weight.zero_()
        a.net.head.linear.bias.zero_()
    obs = np.array([[3.0, 0.0]], np.float32)
    # env 0: action 0 in s = [3, 0], return 1 below V = 3 (weight -2); env 1: action 1 in
    # s = [1, 0], return 1 equal to V = 1 (weight 0).
    a.observe(step((3, 1), terminated=(True, True)))
    metrics = a.update()
    # -mean(weight * log pi) = -(-2 * log 0.5 + 0) / 2 = -log 2 (the raw returns give +log 2)
    assert metrics["policy_loss"] == pytest.approx(-np.log(2.0))
    logits = a.actor.policy_params(obs)[0]
    assert np.exp(logits[0]) / np.exp(logits).sum() < 0.5 - 0.01


def test_standardised_single_step_weights_are_zero() -> None:
    a = agent(standardize=True)
    before = [p.detach().clone() for p in a.net.parameters()]
    a.observe(step((0, 0), terminated=(True, False)))
    metrics = a.update()
    assert metrics["policy_loss"] == 0.0
    for p, old in zip(a.net.parameters(), before, strict=True):
        torch.testing.assert_close(p, old, rtol=0, atol=0)


def test_baseline_metrics_and_loss() -> None:
    a = agent(baseline=True, episodes_per_update=1)
    a.observe(step((0, 0)))
    a.observe(step((1, 1), rewards=(3, 1), terminated=(True, False)))
    metrics = a.update()
    assert set(metrics) == {
        "policy_loss", "value_loss", "entropy", "grad_norm", "explained_variance",
    }  # fmt: skip
    assert metrics["value_loss"] > 0


def test_box_only_option_on_discrete_actions_is_refused() -> None:
    with pytest.raises(SpaceError, match="log_std_init applies to Box.*'reinforce'"):
        agent(log_std_init=-0.5)


def test_nan_loss_stops_with_a_clear_error() -> None:
    a = agent(standardize=False)
    a.observe(step((0, 0), rewards=(float("nan"), 1), terminated=(True, False)))
    with pytest.raises(NonFiniteLossError, match="REINFORCE loss became nan at step 2"):
        a.update()


def test_state_dict_round_trip_mid_episode() -> None:
    a, b = agent(baseline=True), agent(baseline=True)
    rng = np.random.default_rng(2)

    def random_step(i: int) -> Transition:
        ends = rng.random(2) < 0.3
        return step(tuple(rng.normal(size=2)), terminated=(bool(ends[0]), False),
                    truncated=(False, bool(ends[1])))  # fmt: skip

    for i in range(9):
        a.observe(random_step(i))
        a.update()
    b.load_state_dict(a.state_dict())
    obs = rng.normal(size=(4, 2)).astype(np.float32)
    for i in range(12):
        transition = random_step(i)
        for x in (a, b):
            x.observe(transition)
            x.update()
        np.testing.assert_array_equal(a.act(obs, True), b.act(obs, True))
    assert a.updates == b.updates > 0
    for pa, pb in zip(a.net.parameters(), b.net.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def cartpole(**agent_settings: Any) -> dict[str, Any]:
    return {
        "env": {"id": "CartPole-v1", "num_envs": 2},
        "agent": {"name": "reinforce", "hidden": [16], "device": "cpu", **agent_settings},
        "run": {"total_steps": 2_000, "eval_every": 1_000, "eval_episodes": 2,
                "log_every": 200, "progress": False},
    }  # fmt: skip


def test_box_actions_run_and_metrics_reach_tensorboard(tmp_path: Path) -> None:
    data = cartpole(baseline=True, log_std_init=-0.5, lr_decay_steps=4_000)
    data["env"] = {"id": "rlkit/TargetReach-v0", "num_envs": 2, "kwargs": {"dim": 2}}
    summary = train(load_experiment(data), tmp_path / "run")
    assert summary["episodes"] == 200  # 10-step episodes
    assert np.isfinite(summary["final_eval"]["mean_return"])
    names = ("policy_loss", "value_loss", "entropy", "explained_variance", "grad_norm")
    for tag in [*(f"agent/{n}" for n in names), "agent/learning_rate", "train/episode_return"]:
        steps, values = read_scalars(tmp_path / "run", tag)
        assert steps.size > 0, tag
        assert np.isfinite(values).all(), tag
