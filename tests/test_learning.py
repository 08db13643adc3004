"""Learning tests: the bundled tabular experiments reach their targets (slow, run in CI)."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rlkit import checkpoint
from rlkit.agents import dp
from rlkit.experiment import load_experiment
from rlkit.model import TabularModel
from rlkit.plot import read_scalars
from rlkit.runner import train

pytestmark = pytest.mark.slow


def run(name: str, tmp_path: Path) -> tuple[dict, dict]:
    summary = train(load_experiment(name, ["run.progress=false"]), tmp_path / name)
    state = checkpoint.load(checkpoint.latest(tmp_path / name))
    return summary, state


def greedy_of(tables: np.ndarray) -> np.ndarray:
    q = tables.sum(axis=0)
    return np.eye(q.shape[1])[q.argmax(axis=1)]


def test_frozenlake_qlearning_is_within_005_of_the_optimum(tmp_path: Path) -> None:
    summary, state = run("frozenlake_qlearning", tmp_path)
    model = TabularModel.from_env(gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True))
    assert model is not None
    horizon = 100  # FrozenLake-v1's time limit
    optimum = dp.value_iteration(model, gamma=1.0, horizon=horizon).values @ model.initial
    learned = dp.policy_evaluation(model, greedy_of(state["agent"]["tables"]), 1.0, horizon=horizon)
    exact_success = learned @ model.initial
    print(
        f"optimum {optimum:.4f}, learned greedy {exact_success:.4f}, "
        f"sampled {summary['final_eval']['mean_return']:.4f}"
    )
    assert exact_success >= optimum - 0.05
    assert abs(summary["final_eval"]["mean_return"] - optimum) <= 0.05


def test_taxi_qlearning_mean_return_at_least_7(tmp_path: Path) -> None:
    summary, _ = run("taxi_qlearning", tmp_path)
    assert summary["final_eval"]["episodes"] == 500
    assert summary["final_eval"]["mean_return"] >= 7.0


def test_cliffwalking_qlearning_optimal_sarsa_safe(tmp_path: Path) -> None:
    q_summary, _ = run("cliffwalking_qlearning", tmp_path)
    s_summary, _ = run("cliffwalking_sarsa", tmp_path)
    assert q_summary["final_eval"]["mean_return"] == -13.0  # the optimal path along the cliff
    # Sarsa learns the safe path further from the cliff: longer, so worse greedily ...
    assert -25.0 <= s_summary["final_eval"]["mean_return"] < -13.0
    # ... but better while exploring, since epsilon-greedy steps near the cliff are costly.
    online = {}
    for name in ("cliffwalking_qlearning", "cliffwalking_sarsa"):
        _, returns = read_scalars(tmp_path / name, "train/episode_return")
        online[name] = returns[len(returns) // 2 :].mean()
    assert online["cliffwalking_sarsa"] > online["cliffwalking_qlearning"]


def test_gridworld_value_iteration_finds_v_star(tmp_path: Path) -> None:
    summary, state = run("gridworld_value_iteration", tmp_path)
    v_star = -np.array([[0, 1, 2, 3], [1, 2, 3, 2], [2, 3, 2, 1], [3, 2, 1, 0]], dtype=float)
    np.testing.assert_allclose(state["agent"]["values"].reshape(4, 4), v_star)
    # Random non-terminal starts: the mean of -distance over the 14 states is -28/14 = -2.
    assert summary["final_eval"]["mean_return"] == pytest.approx(-2.0, abs=0.35)
