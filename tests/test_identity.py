"""Identity and bandit checks, after Stable-Baselines3's: what each deep agent learns.

Each agent is trained by the runner for a few hundred steps on a tiny env whose answer is known
by hand (tests/bandits.py). Measured over seeds 0-19 at these budgets, natively and with
ATEN_CPU_CAPABILITY=default (the same numbers both ways): DQN's Q-values end within 0.0022 of
the answer on the bandit and 0.0033 on the endless env (asserted: 0.02); REINFORCE and A2C give
the rewarded arm probability >= 0.966 in every context (asserted: it is the greedy arm). The
margins leave room for any CPU's float rounding.
"""

from pathlib import Path
from typing import Any

import bandits
import numpy as np
import pytest
import torch

from rlkit.agent import Agent
from rlkit.agents.dqn import DQNAgent
from rlkit.experiment import load_experiment
from rlkit.training.runner import open_session

# Two contexts, three arms: Q(c, a) = REWARDS[c][a] (one-step episodes), best arms 0 and 2.
REWARDS = [[1.0, 0.0, 0.5], [0.0, 0.25, 1.0]]
DQN = {
    "name": "dqn",
    "learning_rate": 1e-2,
    "batch_size": 32,
    "replay": {"capacity": 1_000},
    "epsilon": {"kind": "constant", "start": 1.0},  # uniform behaviour: Q-learning is off-policy
}


def trained(
    run_dir: Path, env: dict[str, Any], agent: dict[str, Any], steps: int, seed: int = 0
) -> tuple[Agent[Any], dict[str, Any]]:
    """The agent the runner trains for `steps` steps, and the run's summary."""
    data = {
        "env": env,
        "agent": {"device": "cpu", "hidden": [16], **agent},
        "run": {"total_steps": steps, "seed": seed, "eval_every": 0, "eval_episodes": 30,
                "progress": False},
    }  # fmt: skip
    with open_session(load_experiment(data), run_dir) as session:
        summary = session.run()
    return session.agent, summary


def q_values(agent: Agent[Any], obs: np.ndarray) -> np.ndarray:
    """The DQN agent's online Q-values of each row of `obs`, asked alone."""
    assert isinstance(agent, DQNAgent)
    rows = [agent.online_q.q_values(torch.as_tensor(row[None])).numpy() for row in obs]
    return np.concatenate(rows)


@pytest.mark.parametrize(
    "variant",
    [{}, {"double": True, "dueling": True}, {"dueling": True, "manual_backward": False}],
    ids=["dqn", "double_dueling", "dueling_autograd"],
)
def test_dqn_q_values_converge_to_the_rewards_of_a_one_step_bandit(
    tmp_path: Path, variant: dict[str, Any]
) -> None:
    """On one-step episodes Q(c, a) is the reward of arm a in context c; greedy play scores 1."""
    env = {"id": bandits.BANDIT, "kwargs": {"rewards": REWARDS}}
    agent, summary = trained(tmp_path, env, {**DQN, "learning_starts": 64, **variant}, 200)
    contexts = np.eye(2, dtype=np.float32)
    np.testing.assert_allclose(q_values(agent, contexts), REWARDS, atol=0.02)
    np.testing.assert_array_equal(agent.act(contexts, explore=False), [0, 2])
    assert summary["final_eval"]["mean_return"] == 1.0


@pytest.mark.parametrize("variant", [{}, {"double": True}], ids=["dqn", "double"])
def test_dqn_q_values_converge_to_r_over_1_minus_gamma_when_episodes_never_end(
    tmp_path: Path, variant: dict[str, Any]
) -> None:
    """With reward 1 at every step and gamma 0.5, Q = 1 / (1 - 0.5) = 2 for every action."""
    # The time limit (10 steps) truncates: targets bootstrap through the cut, so Q is the value
    # of a never-ending stream (treating the cut as terminal would pull Q below 2).
    settings = {**DQN, "gamma": 0.5, "learning_starts": 32, "target_update_interval": 25}
    agent, _ = trained(tmp_path, {"id": bandits.CONSTANT_REWARD}, {**settings, **variant}, 300)
    np.testing.assert_allclose(
        q_values(agent, np.ones((1, 1), np.float32)), [[2.0, 2.0]], atol=0.02
    )


POLICY_GRADIENT = {
    "reinforce": {"name": "reinforce", "learning_rate": 0.02, "episodes_per_update": 8},
    "a2c": {"name": "a2c", "learning_rate": 0.01, "n_steps": 1},
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["reinforce", "a2c"])
def test_policy_gradient_agents_pick_the_rewarded_arm(tmp_path: Path, name: str, seed: int) -> None:
    """On a 3-context identity bandit the greedy policy picks each context's rewarded arm."""
    # Reward 1 for the one rewarded arm of each context, 0 for the others; 400 steps.
    rewards = np.roll(np.eye(3), seed, axis=1)  # a different rewarded arm per context and seed
    env = {"id": bandits.BANDIT, "num_envs": 8, "kwargs": {"rewards": rewards.tolist()}}
    agent, summary = trained(tmp_path, env, POLICY_GRADIENT[name], 400, seed)
    contexts = np.eye(3, dtype=np.float32)
    np.testing.assert_array_equal(agent.act(contexts, explore=False), rewards.argmax(axis=1))
    assert summary["final_eval"]["mean_return"] == 1.0
