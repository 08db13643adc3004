"""Atari A2C and PPO end to end on CPU through the real runner; the bundled Atari experiments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import rlkit
from rlkit import checkpoint
from rlkit.agents.pg.a2c import A2CConfig
from rlkit.agents.pg.ppo import PPOConfig
from rlkit.cli import main
from rlkit.experiment import load_experiment
from rlkit.nn.networks import NatureCNN
from rlkit.plot import read_scalars

TOTAL_STEPS = 400
# A few hundred steps on 2 native ALE envs: 40 updates of 5-step rollouts through the shared
# Nature CNN; the final evaluation plays one episode cut at 200 steps.
SHORT = [
    f"run.total_steps={TOTAL_STEPS}",
    "env.num_envs=2",
    "agent.device='cpu'",
    "run.eval_every=0",
    "run.final_eval_episodes=1",
    "run.eval_num_envs=1",
    "env.max_episode_steps=200",
    "run.log_every=100",
    "run.progress=false",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory of a few hundred steps of pong_a2c."""
    run_dir = tmp_path_factory.mktemp("atari") / "pong_a2c"
    rlkit.train(load_experiment("pong_a2c", SHORT), run_dir)
    return run_dir


def test_training_writes_summary_and_checkpoint(trained: Path) -> None:
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["steps"] == TOTAL_STEPS
    final = summary["final_eval"]
    assert final["episodes"] == 1
    assert final["mean_length"] <= 200
    assert math.isfinite(final["mean_return"])
    state = checkpoint.load(checkpoint.latest(trained))
    assert state["agent"]["counters"] == [TOTAL_STEPS, TOTAL_STEPS // 10]  # 2 envs x 5 steps
    assert state["agent"]["rollout"]["arrays"]["obs"].shape == (5, 2, 4, 84, 84)
    assert "critic_trunk.convs.0.weight" not in state["agent"]["net"]  # one shared trunk


def test_eval_cli_reproduces_the_final_evaluation(
    trained: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["eval", str(trained), "--episodes", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((trained / "summary.json").read_text())["final_eval"]


@pytest.mark.parametrize(
    "tag", ["agent/policy_loss", "agent/value_loss", "agent/entropy", "agent/grad_norm"]
)
def test_agent_metrics_are_logged(trained: Path, tag: str) -> None:
    steps, values = read_scalars(trained, tag)
    assert steps.size > 0
    assert np.isfinite(values).all()


@pytest.mark.parametrize("name", ["pong_a2c", "breakout_a2c"])
def test_bundled_atari_a2c_experiments_use_rl_zoo_settings(name: str) -> None:
    experiment = load_experiment(name)
    agent = experiment.agent
    assert isinstance(agent, A2CConfig)
    assert experiment.env.id.startswith("ALE/")
    assert experiment.env.num_envs == 16
    assert experiment.run.total_steps == 10_000_000
    settings = (agent.n_steps, agent.learning_rate, agent.optimizer, agent.optimizer_eps)
    assert settings == (5, 7e-4, "rmsprop", 1e-5)
    assert (agent.entropy_coef, agent.value_coef, agent.max_grad_norm) == (0.01, 0.25, 0.5)
    assert agent.shared_trunk
    assert agent.network == "nature_cnn"
    assert agent.device == "auto"


def test_shared_nature_cnn_on_stacked_frames(tmp_path: Path) -> None:
    experiment = load_experiment("breakout_a2c", [*SHORT, "run.total_steps=20"])
    summary = rlkit.train(experiment, tmp_path / "run")
    assert summary["steps"] == 20
    state = checkpoint.load(checkpoint.latest(tmp_path / "run"))
    assert state["agent"]["net"]["actor_trunk.fc.0.weight"].shape == (512, 3136)
    assert NatureCNN(4).out_features == 512


@pytest.mark.parametrize("name", ["pong_ppo", "breakout_ppo"])
def test_bundled_atari_ppo_experiments_run_end_to_end_with_cleanrl_settings(
    tmp_path: Path, name: str
) -> None:
    experiment = load_experiment(name)
    agent = experiment.agent
    assert isinstance(agent, PPOConfig)
    assert (experiment.env.num_envs, agent.n_steps, agent.epochs, agent.minibatches) == (
        8,
        128,
        4,
        4,
    )
    assert (agent.learning_rate, agent.lr_decay_steps, agent.clip_range) == (
        2.5e-4,
        10_000_000,
        0.1,
    )
    assert (agent.gamma, agent.gae_lambda, agent.entropy_coef, agent.max_grad_norm) == (
        0.99, 0.95, 0.01, 0.5
    )  # fmt: skip
    short = [*SHORT, "agent.n_steps=16", "run.total_steps=64"]
    summary = rlkit.train(load_experiment(name, short), tmp_path / "run")
    assert summary["steps"] == 64
    steps, values = read_scalars(tmp_path / "run", "agent/approx_kl")
    assert steps.size > 0
    assert np.isfinite(values).all()
