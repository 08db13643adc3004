"""env.vectorization = "paired": two halves stepped on worker threads while the agent acts on
the other half; the same transitions as one vector env, and the agents' acting records joined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rlkit.agents.pg.a2c import A2CAgent
from rlkit.agents.pg.ppo import PPOAgent
from rlkit.envs.factory import EnvConfig, make_vector_env
from rlkit.envs.paired import PairedVectorEnv, merge_infos
from rlkit.experiment import load_experiment
from rlkit.rollout import RolloutState, rollout
from rlkit.training.runner import train


class Seeded:
    """Random actions from its own generator, one act per call whatever the batch, recording
    the batch sizes it was asked for."""

    def __init__(self, n: int) -> None:
        self.n, self.rng, self.batches = n, np.random.default_rng(0), list[int]()

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        self.batches.append(len(obs))
        return self.rng.integers(0, self.n, len(obs))


def transitions(config: EnvConfig, steps: int) -> tuple[list[Any], list[int]]:
    envs = make_vector_env(config)
    agent = Seeded(int(envs.single_action_space.n))
    state = RolloutState.reset(envs, seed=5)
    loop = rollout(envs, agent, state, explore=True)  # type: ignore[arg-type]
    out = [next(loop) for _ in range(steps)]
    envs.close()
    return out, agent.batches


@pytest.mark.parametrize(
    ("env_id", "num_envs", "kwargs"),
    [
        ("CartPole-v1", 3, {}),
        ("ALE/Breakout-v5", 4, {"noop_max": 0, "max_episode_frames": 600}),
    ],
)
def test_paired_env_replays_the_single_vector_env(
    env_id: str, num_envs: int, kwargs: dict[str, Any]
) -> None:
    """Same seed, same actions: the halves' transitions and episodes are the whole env's; the
    agent acted on each half (sizes n // 2 and n - n // 2)."""
    single, batches = transitions(EnvConfig(env_id, num_envs, kwargs=kwargs), 200)
    paired_config = EnvConfig(env_id, num_envs, vectorization="paired", kwargs=kwargs)
    paired, halves = transitions(paired_config, 200)
    assert batches == [num_envs] * 200
    assert halves == [num_envs // 2, num_envs - num_envs // 2] * 200
    ends = 0
    for (t_single, e_single), (t_paired, e_paired) in zip(single, paired, strict=True):
        for got, expected in zip(t_paired, t_single, strict=True):
            np.testing.assert_array_equal(got, expected)
        assert e_paired == e_single
        ends += len(e_single)
    assert ends > 0


def test_merged_infos_fill_the_half_without_a_key() -> None:
    first = {
        "lives": np.array([3, 2]),
        "final_obs": np.ones((2, 3)),
        "_final_obs": np.ones(2, bool),
    }
    second = {"lives": np.array([5])}
    merged = merge_infos(first, 2, second, 1)
    np.testing.assert_array_equal(merged["lives"], [3, 2, 5])
    np.testing.assert_array_equal(merged["final_obs"], [[1, 1, 1], [1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(merged["_final_obs"], [True, True, False])


def test_paired_needs_two_envs_and_evaluates_unpaired() -> None:
    with pytest.raises(ValueError, match="num_envs >= 2"):
        EnvConfig("CartPole-v1", 1, vectorization="paired")
    config = EnvConfig("CartPole-v1", 4, vectorization="paired")
    assert isinstance(make_vector_env(config), PairedVectorEnv)
    assert not isinstance(make_vector_env(config, 4, training=False), PairedVectorEnv)


@pytest.mark.parametrize(
    ("name", "agent"), [("breakout_a2c", A2CAgent), ("breakout_ppo", PPOAgent)]
)
def test_pixel_agents_keep_their_acting_passes_on_a_paired_env(
    name: str, agent: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A2C backpropagates through the two half acts' graphs, PPO stores their log-probs and
    values: never the fallback forward over the rollout."""
    joined: list[bool] = []
    observe = agent.observe

    def spy(self: Any, transition: Any) -> None:
        halves = len(self.actor._pending) == 2
        observe(self, transition)
        if isinstance(self, A2CAgent):
            kept = self.kept[-1]
            joined.append(halves and kept is not None and len(kept.params) == 4)
        else:
            stored = self.rollout.arrays["old_log_prob"][self.rollout.position - 1]
            joined.append(halves and bool(np.isfinite(stored).all()))

    monkeypatch.setattr(agent, "observe", spy)
    settings = ["env.num_envs=4", "env.vectorization=paired", "run.total_steps=320",
                "run.eval_episodes=1", "run.final_eval_episodes=1", "run.progress=false",
                "agent.n_steps=8", "agent.minibatches=2", "env.max_episode_steps=100"]  # fmt: skip
    if name == "breakout_a2c":
        settings.remove("agent.minibatches=2")
    experiment = load_experiment(name, settings)
    summary = train(experiment, tmp_path / "run")
    assert summary["steps"] >= 320
    assert joined
    assert all(joined)
