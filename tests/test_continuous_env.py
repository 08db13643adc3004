"""rlkit/TargetReach-v0: Gymnasium's checker, the known optimum, and A2C and REINFORCE
learning toward it with Gaussian policies."""

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from across_seeds import Outcome, at_least_k_of
from gymnasium.utils.env_checker import check_env

from rlkit.envs.continuous import TargetReachEnv
from rlkit.envs.factory import EnvConfig, describe_env, make_vector_env
from rlkit.experiment import load_experiment
from rlkit.training import envstate
from rlkit.training.runner import train

ENV_ID = "rlkit/TargetReach-v0"
RANDOM_POLICY_RETURN = -20 / 3  # 10 steps of E[(a - t)^2] = 1/3 + 1/3 for a, t ~ U(-1, 1)


@pytest.mark.parametrize("dim", [1, 3])
def test_passes_gymnasiums_env_checker(dim: int) -> None:
    env = gym.make(ENV_ID, dim=dim, render_mode="ansi")
    check_env(env.unwrapped, skip_render_check=False)
    assert env.unwrapped.render().startswith("target")
    env.close()


def test_optimum_is_the_target_and_episodes_last_10_steps() -> None:
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=0)
    total, steps, truncated, terminated = 0.0, 0, False, False
    while not (truncated or terminated):
        obs, reward, terminated, truncated, _ = env.step(obs)  # act = the observed target
        total += float(reward)
        steps += 1
    assert (steps, total, terminated, truncated) == (10, 0.0, False, True)
    obs, _ = env.reset(seed=1)
    _, reward, *_ = env.step(obs + np.float32(0.5))
    assert reward == pytest.approx(-0.25)
    env.close()


def test_random_policy_level() -> None:
    env = TargetReachEnv()
    env.reset(seed=0)
    env.action_space.seed(1)  # not 0: the same stream as the targets would hit every one
    rewards = [float(env.step(env.action_space.sample())[1]) for _ in range(20_000)]
    assert 10 * np.mean(rewards) == pytest.approx(RANDOM_POLICY_RETURN, rel=0.05)


def test_same_seed_same_targets_and_state_round_trip() -> None:
    envs = make_vector_env(EnvConfig(ENV_ID, num_envs=2))
    a, _ = envs.reset(seed=3)
    b, _ = envs.reset(seed=3)
    np.testing.assert_array_equal(a, b)
    snapshot = envstate.capture(envs)
    assert snapshot is not None
    first = envs.step(np.zeros((2, 1), np.float32))[0]
    envstate.restore(envs, snapshot)
    np.testing.assert_array_equal(envs.step(np.zeros((2, 1), np.float32))[0], first)
    envs.close()
    assert describe_env(ENV_ID) == "rlkit"


def learning_run(agent: dict[str, Any], steps: int, seed: int) -> dict[str, Any]:
    return {
        "env": {"id": ENV_ID, "num_envs": 8},
        "agent": {"hidden": [32], "device": "cpu", "gamma": 0.9, "optimizer": "adam",
                  "learning_rate": 3e-3, "log_std_init": -1.0, **agent},
        "run": {"total_steps": steps, "seed": seed, "eval_every": 0, "final_eval_episodes": 20,
                "progress": False},
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("agent", "steps"),
    [
        ({"name": "a2c", "n_steps": 5}, 12_000),
        ({"name": "reinforce", "episodes_per_update": 8}, 16_000),
    ],
)
def test_gaussian_policies_learn_to_output_the_target(
    tmp_path: Path, agent: dict[str, Any], steps: int
) -> None:
    def claim(seed: int) -> Outcome:
        experiment = load_experiment(learning_run(agent, steps, seed))
        final = train(experiment, tmp_path / f"seed-{seed}")["final_eval"]["mean_return"]
        # The optimum is 0, a random policy scores -6.7, always 0 scores -3.3.
        return final > -0.25, f"greedy return {final:.3f} (random {RANDOM_POLICY_RETURN:.2f})"

    # Met on all of seeds 0-9, natively and with ATEN_CPU_CAPABILITY=default (RESULTS.md).
    at_least_k_of(claim, (0, 1, 2), 1, f"target_reach_{agent['name']}")
