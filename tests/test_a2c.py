"""A2C: rollouts, bootstrapping on truncation, targets, options, save/load, runs and logs."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agent import EnvSpec, Transition
from rlkit.agents.pg.a2c import A2CAgent, A2CConfig, RolloutBuffer
from rlkit.agents.pg.policies import GaussianHead
from rlkit.config import from_dict
from rlkit.errors import NonFiniteLossError, SpaceError
from rlkit.experiment import load_experiment
from rlkit.plot import read_scalars
from rlkit.returns import gae, n_step_returns
from rlkit.training.runner import train

BOX2 = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
METRICS = {"policy_loss", "value_loss", "entropy", "explained_variance", "grad_norm"}


def agent(act: gym.Space[Any] | None = None, **overrides: Any) -> A2CAgent:
    settings: dict[str, Any] = {"device": "cpu", "hidden": [8], "n_steps": 3, **overrides}
    torch.manual_seed(0)
    spec = EnvSpec("Test-v0", BOX2, act or gym.spaces.Discrete(2), 2)
    return A2CAgent(from_dict(A2CConfig, settings, "agent"), spec, seed=0)


def step(
    obs: list[float],
    next_obs: list[float],
    reward: list[float],
    terminated: tuple[bool, bool] = (False, False),
    truncated: tuple[bool, bool] = (False, False),
) -> Transition:
    """A vector step of two envs whose observations are [x, 0]."""

    def pair(xs: list[float]) -> np.ndarray:
        return np.array([[x, 0.0] for x in xs], np.float32)

    return Transition(
        pair(obs),
        np.array([0, 1]),
        np.array(reward, np.float32),
        pair(next_obs),
        np.array(terminated),
        np.array(truncated),
    )


def value_is_first_coordinate(a: A2CAgent) -> None:
    """Make V(s) = s[0] exactly (no hidden layer in the critic)."""
    assert a.net.value_head is not None
    with torch.no_grad():
        a.net.value_head.weight.copy_(torch.tensor([[1.0, 0.0]]))
        a.net.value_head.bias.zero_()


def test_learns_once_per_full_rollout() -> None:
    a = agent(n_steps=3)
    for i in range(3):
        a.observe(step([i, i], [i + 1, i + 1], [1, 1]))
        metrics = a.update()
        assert (metrics == {}) == (i < 2)
    assert set(metrics) == METRICS
    assert a.updates == 1
    for i in range(3):
        a.observe(step([i, i], [i + 1, i + 1], [1, 1]))
        a.update()
    assert a.updates == 2
    assert a.steps == 12


def test_truncation_bootstraps_from_the_final_obs_termination_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = agent(n_steps=2, hidden=[], gamma=0.5)
    value_is_first_coordinate(a)
    seen: dict[str, np.ndarray] = {}
    original = a.targets

    def spy(values: np.ndarray, next_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen["values"], seen["next_values"] = values, next_values
        returns, advantages = original(values, next_values)
        seen["returns"] = returns
        return returns, advantages

    monkeypatch.setattr(a, "targets", spy)
    # env 0 is truncated at t=0 with final obs x=8 (the next row starts a new episode at x=0);
    # env 1 terminates at t=0 with final obs x=6.
    a.observe(step([1, 2], [8, 6], [1, 1], terminated=(False, True), truncated=(True, False)))
    a.observe(step([0, 0], [4, 4], [1, 1]))
    a.update()
    np.testing.assert_allclose(seen["values"], [[1, 2], [0, 0]])
    np.testing.assert_allclose(seen["next_values"], [[8, 6], [4, 4]])  # V(true next obs)
    # env 0: G0 = 1 + 0.5 * V(final obs 8) = 5; env 1: G0 = 1 (no bootstrap);
    # both: G1 = 1 + 0.5 * 4 = 3
    np.testing.assert_allclose(seen["returns"], [[5, 1], [3, 3]])


def test_next_values_reuse_the_next_rows_values_and_evaluate_only_the_rest() -> None:
    buffer = RolloutBuffer(n_steps=3)
    # env 0 ends at t=0 (final obs 9, then a reset to 5); env 1 goes on; obs is x itself
    buffer.add(step([1, 2], [9, 3], [0, 0], terminated=(True, False)), np.zeros(2))
    buffer.add(step([5, 3], [6, 4], [0, 0]), np.zeros(2))
    buffer.add(step([6, 4], [7, 8], [0, 0]), np.zeros(2))
    values = np.array([[10.0, 20.0], [50.0, 30.0], [60.0, 40.0]], dtype=np.float32)
    asked: list[np.ndarray] = []

    def value_of(rows: np.ndarray) -> np.ndarray:
        asked.append(rows.copy())
        return rows[:, 0] * 10.0  # V(x) = 10 x, as `values` holds

    next_values = buffer.next_values(values, value_of)
    np.testing.assert_array_equal(next_values, [[90, 30], [60, 40], [70, 80]])
    assert len(asked) == 1  # one batch: the episode end and the last row, nothing else
    np.testing.assert_array_equal(asked[0][:, 0], [9, 7, 8])
    buffer.arrays["next_obs"][1, 1] += 0.5  # e.g. normalised with moved statistics
    buffer.next_values(values, value_of)
    np.testing.assert_array_equal(asked[1][:, 0], [9, 4.5, 7, 8])


def test_n_step_1_advantage_is_the_td_error() -> None:
    a = agent(n_steps=2, n_step=1, gamma=0.5)
    a.observe(step([1, 2], [3, 4], [1, 2], terminated=(False, True)))
    a.observe(step([3, 0], [5, 6], [0, 1]))
    values = np.array([[1.0, 2.0], [3.0, 0.5]])
    next_values = np.array([[3.0, 4.0], [5.0, 6.0]])
    returns, advantages = a.targets(values, next_values)
    np.testing.assert_allclose(returns, [[2.5, 2.0], [2.5, 4.0]])
    np.testing.assert_allclose(advantages, returns - values)


def test_the_policy_gradient_is_weighted_by_the_advantage() -> None:
    """An action whose return falls short of V(s) gets less likely (negative advantage)."""
    a = agent(n_steps=1, hidden=[], learning_rate=0.05)
    value_is_first_coordinate(a)
    with torch.no_grad():  # a uniform policy
        a.net.head.linear.weight.zero_()
        a.net.head.linear.bias.zero_()
    # env 0: action 0 in s = [3, 0], return 1 (terminated) below V = 3: advantage -2;
    # env 1: action 1 in s = [1, 0], return 1 equal to V = 1: advantage 0.
    a.observe(step([3, 1], [0, 0], [1, 1], terminated=(True, True)))
    metrics = a.update()
    # -mean(advantage * log pi) = -(-2 * log 0.5 + 0) / 2 = -log 2 (the returns give +log 2)
    assert metrics["policy_loss"] == pytest.approx(-np.log(2.0))
    assert metrics["value_loss"] == pytest.approx((2.0**2 + 0.0) / 2)
    logits = a.actor.policy_params(np.array([[3.0, 0.0]], np.float32))[0]
    assert np.exp(logits[0]) / np.exp(logits).sum() < 0.5 - 0.01


@pytest.mark.parametrize("lam", [0.0, 0.95, 1.0])
def test_gae_option_uses_gae(lam: float) -> None:
    a = agent(n_steps=3, gae_lambda=lam, gamma=0.9)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.normal(size=2).tolist()
        a.observe(
            step(x, x, rng.normal(size=2).tolist(), truncated=(bool(rng.random() < 0.3),) * 2)
        )
    data = a.rollout.arrays
    flags = (data["terminated"], data["truncated"])
    values, next_values = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    going_on = ~data["truncated"][:-1]
    next_values[:-1][going_on] = values[1:][going_on]  # V(s_t+1) is the next row's V(s)
    returns, advantages = a.targets(values, next_values)
    expected = gae(data["reward"], values, next_values, *flags, 0.9, lam)
    np.testing.assert_allclose(advantages, expected)
    np.testing.assert_allclose(returns, expected + values)
    if lam == 1.0:  # GAE(1) is the rollout return
        rollout = n_step_returns(data["reward"], next_values, *flags, 0.9, 3)
        np.testing.assert_allclose(returns, rollout)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_an_update_trains_every_parameter(shared: bool, optimizer: str) -> None:
    a = agent(shared_trunk=shared, optimizer=optimizer, normalize_advantage=True)
    assert (a.net.critic_trunk is None) == shared
    assert isinstance(a.optimizer, torch.optim.Adam if optimizer == "adam" else torch.optim.RMSprop)
    before = {n: p.detach().clone() for n, p in a.net.named_parameters()}
    for i in range(3):
        a.observe(step([i, -i], [i + 1, 1 - i], [1, -1]))
    assert set(a.update()) == METRICS
    unchanged = [n for n, p in a.net.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == []


def test_box_actions_report_the_action_std() -> None:
    a = agent(act=gym.spaces.Box(-1, 1, (1,)), log_std_init=-1.0)
    assert isinstance(a.net.head, GaussianHead)
    obs = np.zeros((2, 2), np.float32)
    for _ in range(3):
        actions = a.act(obs, explore=True)
        assert actions.shape == (2, 1)
        t = step([0, 0], [0, 0], [1, 1])
        a.observe(t._replace(action=actions))
    metrics = a.update()
    assert metrics["action_std"] == pytest.approx(np.exp(-1.0), rel=0.05)


def test_learning_rate_decay_is_reported() -> None:
    a = agent(lr_decay_steps=24, learning_rate=1e-3)
    for _ in range(3):
        a.observe(step([0, 0], [0, 0], [1, 1]))
    assert a.update()["learning_rate"] == pytest.approx(1e-3 * (1 - 6 / 24))


def test_box_only_option_on_discrete_actions_is_refused() -> None:
    with pytest.raises(SpaceError, match="log_std_init applies to Box"):
        agent(log_std_init=-0.5)


def test_nan_loss_stops_with_a_clear_error() -> None:
    a = agent()
    for _ in range(3):
        a.observe(step([0, 0], [0, 0], [float("nan"), 1]))
    with pytest.raises(NonFiniteLossError, match="A2C loss became nan at step 6"):
        a.update()


def test_state_dict_round_trip_continues_identically() -> None:
    a, b = agent(), agent()
    rng = np.random.default_rng(1)
    for _ in range(4):  # one update and a rollout in progress
        a.observe(step(*rng.normal(size=(3, 2)).tolist()))
        a.update()
    b.load_state_dict(a.state_dict())
    obs = rng.normal(size=(5, 2)).astype(np.float32)
    for _ in range(5):
        transition = step(*rng.normal(size=(3, 2)).tolist())
        for x in (a, b):
            x.observe(transition)
            x.update()
        np.testing.assert_array_equal(a.act(obs, True), b.act(obs, True))
    for pa, pb in zip(a.net.parameters(), b.net.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def cartpole(**agent_settings: Any) -> dict[str, Any]:
    return {
        "env": {"id": "CartPole-v1", "num_envs": 4},
        "agent": {"name": "a2c", "hidden": [16], "device": "cpu", **agent_settings},
        "run": {"total_steps": 2_000, "eval_every": 1_000, "eval_episodes": 2,
                "log_every": 200, "progress": False},
    }  # fmt: skip


@pytest.mark.parametrize(
    "env", [{"id": "rlkit/TargetReach-v0", "kwargs": {"dim": 2}}, {"id": "Pendulum-v1"}]
)
def test_box_action_envs_run(tmp_path: Path, env: dict[str, Any]) -> None:
    data = cartpole(log_std_init=-0.5)
    data["env"] = {**env, "num_envs": 2}
    summary = train(load_experiment(data), tmp_path / "run")
    assert summary["steps"] == 2_000
    assert np.isfinite(summary["final_eval"]["mean_return"])


def test_tensorboard_has_the_metrics(tmp_path: Path) -> None:
    train(load_experiment(cartpole(lr_decay_steps=4_000)), tmp_path / "run")
    tags = [f"agent/{m}" for m in (*METRICS, "learning_rate")]
    for tag in [*tags, "train/episode_return", "train/steps_per_second"]:
        steps, values = read_scalars(tmp_path / "run", tag)
        assert steps.size > 0, tag
        assert np.isfinite(values).all(), tag


GRIDS = gym.spaces.Box(0, 1, (10, 10, 4), np.bool_)  # MinAtar-like frames: the CNN (torch) path


def grid_agent() -> A2CAgent:
    torch.manual_seed(0)
    settings = {"device": "cpu", "n_steps": 3, "manual_backward": False}  # autograd: kept graphs
    config = from_dict(A2CConfig, settings, "agent")
    return A2CAgent(config, EnvSpec("Grid-v0", GRIDS, gym.spaces.Discrete(3), 2), seed=0)


def grid_rollout(seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.random((2, 10, 10, 4)) < 0.3, rng.normal(size=2).astype(np.float32),
         rng.random((2, 10, 10, 4)) < 0.3, rng.random(2) < 0.3)
        for _ in range(3)
    ]  # fmt: skip


def test_on_the_torch_path_the_update_backpropagates_through_the_acting_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acting, observing = grid_agent(), grid_agent()
    assert acting.per_step
    forwards: list[int] = []
    original = acting.net.policy_params_and_values

    def counted(obs: torch.Tensor) -> Any:
        forwards.append(len(obs))
        return original(obs)

    monkeypatch.setattr(acting.net, "policy_params_and_values", counted)
    for obs, reward, next_obs, done in grid_rollout(4):
        action = acting.act(obs, explore=True)
        step_ = Transition(obs, action, reward, next_obs, done, np.zeros(2, bool))
        acting.observe(step_)
        observing.observe(step_._replace(obs=obs.copy()))  # not acted on: no kept pass
    assert len(forwards) == 3
    assert [k is not None for k in acting.kept] == [True, True, True]
    assert observing.kept == [None, None, None]
    first, second = acting.update(), observing.update()
    assert len(forwards) == 3  # the update ran no policy forward pass of its own
    assert acting.kept == []
    # the passes run again (a resumed run's first rollout) give the very same step
    for mine, theirs in zip(acting.net.parameters(), observing.net.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
    assert first == second


def test_a_state_dict_taken_mid_rollout_resumes_to_the_same_update() -> None:
    whole, stopped = grid_agent(), grid_agent()
    steps = grid_rollout(5)
    for agent_ in (whole, stopped):
        for obs, reward, next_obs, done in steps[:2]:
            action = agent_.act(obs, explore=True)
            agent_.observe(Transition(obs, action, reward, next_obs, done, np.zeros(2, bool)))
    resumed = grid_agent()
    resumed.load_state_dict(stopped.state_dict())
    for agent_ in (whole, resumed):
        obs, reward, next_obs, done = steps[2]
        action = agent_.act(obs, explore=True)
        agent_.observe(Transition(obs, action, reward, next_obs, done, np.zeros(2, bool)))
    assert [k is not None for k in resumed.kept] == [True]  # steps 0 and 1 have none
    assert whole.update() == resumed.update()
    for mine, theirs in zip(whole.net.parameters(), resumed.net.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
