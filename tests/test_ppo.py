"""PPO: the clipped loss, value clipping and approx KL by hand, the minibatch schedule, target_kl,
annealing, bad input, truncation bootstrapping, runs and logs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit import checkpoint
from rlkit.agent import EnvSpec, Transition
from rlkit.agents.pg.losses import ppo_loss
from rlkit.agents.pg.ppo import PPOAgent, PPOConfig, annealed, minibatch_indices
from rlkit.config import from_dict
from rlkit.errors import ConfigError, SpaceError
from rlkit.experiment import load_experiment
from rlkit.plot import read_scalars
from rlkit.training.runner import evaluate_checkpoint, train

BOX2 = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)


def agent(act: gym.Space[Any] | None = None, num_envs: int = 2, **overrides: Any) -> PPOAgent:
    settings: dict[str, Any] = {
        "device": "cpu", "hidden": [8], "n_steps": 4, "minibatches": 2, "epochs": 3, **overrides
    }  # fmt: skip
    torch.manual_seed(0)
    spec = EnvSpec("Test-v0", BOX2, act or gym.spaces.Discrete(2), num_envs)
    return PPOAgent(from_dict(PPOConfig, settings, "agent"), spec, seed=0)


def t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_clipped_surrogate_by_hand() -> None:
    # ratios 1.5, 0.5, 1.1 with eps 0.2; advantages +1, -2, +3
    old = t([0.0, 0.0, 0.0])
    log_prob = t([math.log(1.5), math.log(0.5), math.log(1.1)])
    advantages = t([1.0, -2.0, 3.0])
    zeros = t([0.0, 0.0, 0.0])
    loss = ppo_loss(log_prob, old, advantages, zeros, zeros, zeros, zeros, 0.2, None, 0.5, 0.0)
    # min(1.5*1, 1.2*1) = 1.2; min(0.5*-2, 0.8*-2) = -1.6; min(1.1*3, 1.1*3) = 3.3
    assert float(loss.policy) == pytest.approx(-(1.2 - 1.6 + 3.3) / 3)
    assert float(loss.clip_fraction) == pytest.approx(2 / 3)
    kl = ((1.5 - 1 - math.log(1.5)) + (0.5 - 1 - math.log(0.5)) + (1.1 - 1 - math.log(1.1))) / 3
    assert float(loss.approx_kl) == pytest.approx(kl)
    assert float(loss.total) == pytest.approx(float(loss.policy))


def test_value_loss_with_and_without_clipping_by_hand() -> None:
    zeros = t([0.0, 0.0])
    values, old_values, returns = t([1.0, 0.5]), t([0.0, 0.0]), t([2.0, -1.0])
    entropy = t([0.3, 0.1])
    plain = ppo_loss(zeros, zeros, zeros, entropy, values, old_values, returns, 0.2, None, 0.5, 0.1)
    assert float(plain.value) == pytest.approx(((1 - 2) ** 2 + (0.5 + 1) ** 2) / 2)
    assert float(plain.entropy) == pytest.approx(0.2)
    assert float(plain.total) == pytest.approx(0.5 * 1.625 - 0.1 * 0.2)
    clipped = ppo_loss(zeros, zeros, zeros, entropy, values, old_values, returns, 0.2, 0.1, 0.5, 0)
    # V clipped to 0.1 and 0.1: errors (0.1-2)^2 = 3.61 > 1 and (0.1+1)^2 = 1.21 < 2.25
    assert float(clipped.value) == pytest.approx((3.61 + 2.25) / 2)


def test_every_sample_is_used_once_per_pass() -> None:
    rng = np.random.default_rng(0)
    parts = minibatch_indices(12, 4, rng)
    assert [len(p) for p in parts] == [3, 3, 3, 3]
    assert sorted(np.concatenate(parts).tolist()) == list(range(12))
    assert not np.array_equal(np.concatenate(parts), np.arange(12))  # shuffled


def test_annealing_is_linear_to_zero() -> None:
    assert annealed(0.2, 0, 100) == 0.2
    assert annealed(0.2, 25, 100) == pytest.approx(0.15)
    assert annealed(0.2, 500, 100) == 0.0
    assert annealed(0.2, 500, 0) == 0.2


def fill(a: PPOAgent, steps: int, rng: np.random.Generator) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for _ in range(steps):
        obs = rng.normal(size=(2, 2)).astype(np.float32)
        action = a.act(obs, explore=True)
        done = rng.random(2) < 0.2
        a.observe(
            Transition(obs, action, rng.normal(size=2).astype(np.float32),
                       rng.normal(size=(2, 2)).astype(np.float32), done, np.zeros(2, bool))
        )  # fmt: skip
        metrics = a.update() or metrics
    return metrics


def test_an_update_takes_epochs_times_minibatches_steps_and_logs_its_metrics() -> None:
    a = agent()
    metrics = fill(a, 4, np.random.default_rng(1))
    assert metrics["gradient_steps"] == 3 * 2
    assert metrics["early_stop"] == 0.0
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                 "explained_variance", "learning_rate", "clip_range", "grad_norm"):  # fmt: skip
        assert np.isfinite(metrics[name]), name
    assert metrics["clip_range"] == 0.2


def test_target_kl_stops_the_update_early() -> None:
    eager = agent(target_kl=1e-12, learning_rate=0.05, epochs=10)
    metrics = fill(eager, 4, np.random.default_rng(1))
    assert metrics["early_stop"] == 1.0
    assert 1 <= metrics["gradient_steps"] < 10 * 2  # the first step is at KL 0, then it stops


def test_the_first_minibatch_sees_the_rollouts_own_policy() -> None:
    """Before any step of an update the ratio is 1: the old log-probs are the policy's own."""
    a = agent(epochs=1, minibatches=1)
    metrics = fill(a, 4, np.random.default_rng(2))
    assert metrics["approx_kl"] == pytest.approx(0.0, abs=1e-7)
    assert metrics["clip_fraction"] == 0.0


def test_box_actions_learn_and_report_the_std() -> None:
    a = agent(gym.spaces.Box(-1.0, 1.0, (1,), np.float32), log_std_init=-0.5)
    metrics = fill(a, 4, np.random.default_rng(3))
    assert metrics["action_std"] < 1.0


def test_bad_input_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="is not a multiple of minibatches = 3"):
        agent(minibatches=3)
    with pytest.raises(ConfigError, match="clip_range must be > 0"):
        from_dict(PPOConfig, {"clip_range": 0.0}, "agent")
    spec = EnvSpec("Test-v0", BOX2, gym.spaces.MultiDiscrete([2, 2]), 1)
    with pytest.raises(SpaceError, match="needs Discrete actions from 0 or Box actions"):
        PPOAgent.check_spaces(spec)


def test_cartpole_run_logs_the_ppo_metrics(tmp_path: Path) -> None:
    data = {
        "env": {"id": "CartPole-v1", "num_envs": 4},
        "agent": {"name": "ppo", "n_steps": 64, "minibatches": 4, "epochs": 2, "device": "cpu",
                  "lr_decay_steps": 2_000, "clip_decay_steps": 2_000},
        "run": {"total_steps": 1_024, "eval_every": 0, "eval_episodes": 2, "log_every": 256,
                "progress": False},
    }  # fmt: skip
    summary = train(load_experiment(data), tmp_path / "run")
    assert summary["steps"] == 1_024
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                 "explained_variance", "learning_rate", "clip_range"):  # fmt: skip
        steps, values = read_scalars(tmp_path / "run", f"agent/{name}")
        assert steps.size > 0, name
        assert np.isfinite(values).all(), name
    steps, clip = read_scalars(tmp_path / "run", "agent/clip_range")
    assert clip[-1] < clip[0]  # annealed


@pytest.mark.parametrize("name", ["ppo", "a2c"])
def test_normalisation_statistics_are_learned_in_training_saved_and_frozen_at_evaluation(
    tmp_path: Path, name: str
) -> None:
    data = {
        "env": {"id": "Pendulum-v1", "num_envs": 2},
        "agent": {"name": name, "n_steps": 16, "device": "cpu", "normalize_observations": True,
                  "normalize_rewards": True, **({"minibatches": 2} if name == "ppo" else {})},
        "run": {"total_steps": 512, "eval_every": 0, "eval_episodes": 2, "progress": False},
    }  # fmt: skip
    summary = train(load_experiment(data), tmp_path / "run")
    state = checkpoint.load(checkpoint.latest(tmp_path / "run"))["agent"]["inputs"]
    assert state["obs"]["count"] == pytest.approx(512 + 1e-4)  # every observation acted on
    assert np.all(np.asarray(state["obs"]["var"]) > 0)
    assert np.asarray(state["rewards"]["return_stats"]["var"]) > 0
    # `rlkit eval` plays with the saved, frozen statistics: the run's final evaluation again
    assert evaluate_checkpoint(tmp_path / "run").as_dict() == summary["final_eval"]
    after = checkpoint.load(checkpoint.latest(tmp_path / "run"))["agent"]["inputs"]
    assert after["obs"]["count"] == state["obs"]["count"]


def test_greedy_actions_use_frozen_statistics() -> None:
    a = agent(normalize_observations=True)
    obs = np.array([[5.0, -3.0], [1.0, 2.0]], np.float32)
    a.act(obs, explore=True)
    assert a.inputs.obs is not None
    count = a.inputs.obs.rms.count
    a.act(obs * 10, explore=False)
    assert a.inputs.obs.rms.count == count
    restored = agent(normalize_observations=True)
    restored.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(restored.act(obs, False), a.act(obs, False))


def test_reinforce_refuses_normalisation() -> None:
    from rlkit.agents.pg.reinforce import ReinforceAgent, ReinforceConfig

    config = from_dict(ReinforceConfig, {"normalize_observations": True, "device": "cpu"}, "agent")
    with pytest.raises(ConfigError, match="'reinforce' .* has no normalisation"):
        ReinforceAgent(config, EnvSpec("Test-v0", BOX2, gym.spaces.Discrete(2), 1), seed=0)


GRIDS = gym.spaces.Box(0, 1, (10, 10, 4), np.bool_)  # MinAtar-like frames: the CNN (torch) path


def grid_steps(a: PPOAgent, steps: int, seed: int, acted: bool) -> None:
    """`steps` vector steps of random grids; the agent acts on each first when `acted`."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        obs = rng.random((2, 10, 10, 4)) < 0.3
        action = a.act(obs, explore=True) if acted else rng.integers(2, size=2)
        a.observe(Transition(obs, action, rng.normal(size=2).astype(np.float32),
                             rng.random((2, 10, 10, 4)) < 0.3, rng.random(2) < 0.2,
                             np.zeros(2, bool)))  # fmt: skip


@pytest.mark.parametrize("shared", [True, False])
def test_on_the_torch_path_acting_records_the_old_log_probs_and_values_the_update_uses(
    shared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {
        "device": "cpu",
        "n_steps": 4,
        "minibatches": 1,
        "epochs": 1,
        "shared_trunk": shared,
    }
    config = from_dict(PPOConfig, settings, "agent")
    a = PPOAgent(config, EnvSpec("Grid-v0", GRIDS, gym.spaces.Discrete(2), 2), seed=0)
    assert a.actor.numpy_policy is None
    grid_steps(a, 4, seed=1, acted=True)
    data = a.rollout.arrays
    with torch.no_grad():
        log_prob, _, values = a.net.evaluate(
            torch.as_tensor(data["obs"].reshape(8, 10, 10, 4)),
            torch.as_tensor(data["action"].reshape(8)),
        )
    assert values is not None
    np.testing.assert_allclose(data["old_log_prob"].reshape(8), log_prob.numpy(), atol=1e-5)
    np.testing.assert_allclose(data["old_value"].reshape(8), values.numpy(), atol=1e-5)
    calls: list[bool] = []
    evaluate = a.net.evaluate

    def spy(obs: torch.Tensor, actions: torch.Tensor) -> Any:
        calls.append(torch.is_grad_enabled())
        return evaluate(obs, actions)

    monkeypatch.setattr(a.net, "evaluate", spy)
    metrics = a.update()
    assert metrics["approx_kl"] == pytest.approx(0.0, abs=1e-6)  # its own policy's log-probs
    assert False not in calls  # no forward pass without gradients over the rollout


def test_steps_the_agent_did_not_act_on_get_their_log_probs_computed_by_the_update() -> None:
    def make() -> PPOAgent:
        torch.manual_seed(0)
        return PPOAgent(
            from_dict(PPOConfig, {"device": "cpu", "n_steps": 4, "minibatches": 1}, "agent"),
            EnvSpec("Grid-v0", GRIDS, gym.spaces.Discrete(2), 2),
            seed=0,
        )

    recorded, computed = make(), make()
    grid_steps(recorded, 4, seed=3, acted=True)
    actions = recorded.rollout.arrays["action"].copy()
    rng = np.random.default_rng(3)  # the same steps, observed without acting
    for t in range(4):
        obs = rng.random((2, 10, 10, 4)) < 0.3
        computed.observe(Transition(obs, actions[t], rng.normal(size=2).astype(np.float32),
                                    rng.random((2, 10, 10, 4)) < 0.3, rng.random(2) < 0.2,
                                    np.zeros(2, bool)))  # fmt: skip
    assert np.isnan(computed.rollout.arrays["old_log_prob"]).all()
    assert not np.isnan(recorded.rollout.arrays["old_log_prob"]).any()
    first, second = recorded.update(), computed.update()
    for name in ("policy_loss", "value_loss", "approx_kl", "explained_variance"):
        assert first[name] == pytest.approx(second[name], rel=1e-4, abs=1e-6), name
    for mine, theirs in zip(recorded.net.parameters(), computed.net.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)
