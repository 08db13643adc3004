"""MinAtar: registered when the extra is installed, boolean grids into the MinAtar CNN, a clear
error when the extra is missing, and a short run of each pixel agent (DQN, A2C, PPO)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlkit.agents.dqn import DQNAgent
from rlkit.envs import minatar
from rlkit.envs.factory import EnvConfig, check_env_id, env_spec, make_vector_env
from rlkit.errors import ConfigError, SpaceError
from rlkit.experiment import load_experiment
from rlkit.nn.networks import MinAtarCNN, MLPTrunk, build_trunk
from rlkit.training.runner import train

pytest.importorskip("minatar", reason="the minatar extra (make setup installs it)")


def test_breakout_plays_with_its_three_minimal_actions() -> None:
    envs = make_vector_env(EnvConfig("MinAtar/Breakout-v1", num_envs=1))
    assert envs.single_action_space == gym.spaces.Discrete(3)
    envs.close()


@pytest.mark.parametrize("game", list(minatar.GAMES))
def test_every_game_is_registered_with_boolean_grids(game: str) -> None:
    envs = make_vector_env(EnvConfig(f"MinAtar/{game}-v1", num_envs=2))
    obs, _ = envs.reset(seed=0)
    assert obs.dtype == bool
    assert obs.shape[:3] == (2, 10, 10)
    assert envs.single_observation_space.shape == obs.shape[1:]
    assert envs.single_action_space.n <= 6  # v1: the game's minimal action set
    assert gym.spec(f"MinAtar/{game}-v1").kwargs["use_minimal_action_set"] is True
    assert gym.spec(f"MinAtar/{game}-v0").kwargs["use_minimal_action_set"] is False  # all six
    envs.close()


def test_auto_network_is_the_minatar_cnn_on_grids_only() -> None:
    grids = gym.spaces.Box(0, 1, (10, 10, 4), bool)
    trunk = build_trunk(grids, "auto", [64], "relu")
    assert isinstance(trunk, MinAtarCNN)
    assert trunk.out_features == 128
    assert trunk.fc[0].in_features == 16 * 8 * 8
    assert isinstance(build_trunk(gym.spaces.Box(0, 1, (4,)), "auto", [8], "relu"), MLPTrunk)
    with pytest.raises(SpaceError, match="channel-last grids"):
        build_trunk(gym.spaces.Box(0, 1, (4,)), "minatar_cnn", [8], "relu")


def test_the_cnn_convolves_over_the_channels_of_channel_last_grids() -> None:
    torch.manual_seed(0)
    trunk = MinAtarCNN(10, 10, 4)
    grid = torch.zeros(1, 10, 10, 4, dtype=torch.bool)
    grid[0, 2, 6, 1] = True  # row 2, column 6 of channel 1
    conv = trunk.conv[0]
    planes = grid.permute(0, 3, 1, 2).float()  # (1, 4, 10, 10): channels first
    expected = trunk.fc(
        torch.relu(torch.nn.functional.conv2d(planes, conv.weight, conv.bias)).flatten(1)
    )
    transposed = trunk.fc(
        torch.relu(
            torch.nn.functional.conv2d(planes.transpose(2, 3), conv.weight, conv.bias)
        ).flatten(1)
    )
    out = trunk(grid)
    assert out.shape == (1, 128)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, transposed)


def test_a_minatar_id_without_the_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(minatar, "installed", lambda: False)
    with pytest.raises(
        ConfigError, match=r"needs the minatar extra: pip install -e '\.\[minatar\]'"
    ):
        check_env_id("MinAtar/Pong-v1")


@pytest.mark.parametrize(
    ("experiment", "overrides"),
    [
        ("minatar_breakout_dqn", ["agent.learning_starts=100", "agent.double=true",
                                  "agent.dueling=true"]),
        ("minatar_spaceinvaders_dqn", ["agent.learning_starts=100"]),
        ("minatar_breakout_ppo", ["agent.n_steps=16", "agent.minibatches=2"]),
        ("minatar_spaceinvaders_ppo", ["agent.n_steps=16", "agent.minibatches=2"]),
    ],
)  # fmt: skip
def test_pixel_agents_run_a_few_hundred_steps(
    experiment: str, overrides: list[str], tmp_path: Path
) -> None:
    settings = ["run.total_steps=400", "run.eval_every=200", "run.eval_episodes=1",
                "run.final_eval_episodes=1", "run.progress=false", *overrides]  # fmt: skip
    summary = train(load_experiment(experiment, settings), tmp_path / "run")
    assert summary["steps"] >= 400
    assert np.isfinite(summary["evaluations"][-1]["mean_return"])


def test_a2c_runs_on_minatar(tmp_path: Path) -> None:
    settings = ["run.total_steps=200", "run.eval_episodes=1", "run.final_eval_episodes=1",
                "run.progress=false", "env.num_envs=4"]  # fmt: skip
    experiment = load_experiment("cartpole_a2c", settings)
    experiment = experiment.__class__.from_dict(
        {**experiment.to_dict(), "env": {"id": "MinAtar/Breakout-v1", "num_envs": 4}}
    )
    summary = train(experiment, tmp_path / "run")
    assert summary["steps"] >= 200


def test_the_dqn_experiments_use_the_papers_centred_rmsprop() -> None:
    experiment = load_experiment("minatar_spaceinvaders_dqn", [])
    spec_env = make_vector_env(experiment.env)
    agent = DQNAgent(experiment.agent, env_spec(experiment.env, spec_env), seed=0)
    (group,) = agent.optimizer.param_groups
    assert isinstance(agent.optimizer, torch.optim.RMSprop)
    assert (group["centered"], group["alpha"], group["eps"], group["lr"]) == (
        True,
        0.95,
        0.01,
        2.5e-4,
    )
    with pytest.raises(ConfigError, match="rmsprop_centered needs optimizer = 'rmsprop'"):
        load_experiment("minatar_breakout_dqn", ["agent.optimizer=adam"])
    spec_env.close()


@pytest.mark.parametrize(
    "name",
    ["minatar_breakout_dqn", "minatar_spaceinvaders_dqn", "minatar_breakout_ppo",
     "minatar_spaceinvaders_ppo"],
)  # fmt: skip
def test_every_minatar_experiment_has_a_time_limit(name: str) -> None:
    """MinAtar registers no time limit: without one an evaluation of a policy that never loses
    (Breakout's paddle that never serves a miss) would never end."""
    assert load_experiment(name, []).env.max_episode_steps == 27_000
    short = load_experiment(name, ["env.max_episode_steps=3", "env.num_envs=1"])
    envs = make_vector_env(short.env, training=False)
    envs.reset(seed=0)
    ended = [envs.step(np.array([0]))[3][0] for _ in range(3)]  # action 0: no-op, no death
    envs.close()
    assert ended == [False, False, True]
