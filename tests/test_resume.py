"""Exact resume, for every agent that promises it (all but UCT, which does not learn and whose
search trees are not checkpointed): a run stopped by Ctrl-C and resumed with
`rlkit run --resume` ends exactly as the same run left alone (summary and final agent state).

Each case names the method whose n-th call sends this process a real SIGINT: `update` for the
runner's step loop (mid-rollout, mid-episode), a phase of the family's own loop otherwise.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from helpers import assert_bit_identical, ga_experiment, small_experiment, tiny_experiment

from rlkit import checkpoint
from rlkit.agents.alphazero.train import AlphaZeroLoop
from rlkit.agents.dqn import DQNAgent
from rlkit.agents.ga.train import GALoop
from rlkit.agents.montecarlo import MCControlAgent
from rlkit.agents.pg import A2CAgent, PPOAgent, ReinforceAgent
from rlkit.agents.tabular import TabularAgent
from rlkit.errors import CheckpointError
from rlkit.experiment import load_experiment
from rlkit.training.runner import TrainingInterrupted, resume, train

TIMING = ("wall_s", "steps_per_second")
"""summary.json keys (and history keys, by prefix) that measure time, not results."""
TIMED_METRICS = ("time/", "selfplay/games_per_second")


class Case(NamedTuple):
    experiment: dict[str, Any]
    stop_class: type
    stop_method: str
    stop_call: int


def cartpole(agent: dict[str, Any], num_envs: int, steps: int) -> dict[str, Any]:
    return {
        "env": {"id": "CartPole-v1", "num_envs": num_envs},
        "agent": {"hidden": [16], "device": "cpu", **agent},
        "run": {"total_steps": steps, "eval_every": steps // 3, "eval_episodes": 2,
                "log_every": 200, "progress": False},
    }  # fmt: skip


CASES = {
    "tabular-first-step": Case(small_experiment(), TabularAgent, "update", 1),
    "tabular": Case(small_experiment(), TabularAgent, "update", 333),
    "mc_control": Case(
        {
            **small_experiment(),
            "env": {"id": "rlkit/Blackjack-v0", "num_envs": 4},
            "agent": {"name": "mc_control", "exploration": "exploring_starts"},
        },
        MCControlAgent,
        "update",
        333,  # mid-episode in some sub-envs
    ),
    "dqn": Case(
        cartpole(
            {
                "name": "dqn",
                "learning_starts": 200,
                "train_frequency": 4,
                "target_update_interval": 100,
                "replay": {"capacity": 5_000, "n_step": 3},
                "epsilon": {"kind": "linear", "start": 1.0, "end": 0.1, "steps": 1_000},
            },
            num_envs=1,
            steps=1_500,
        ),
        DQNAgent,
        "update",
        700,
    ),
    "a2c": Case(
        cartpole({"name": "a2c", "n_steps": 8, "gae_lambda": 0.95}, 4, 2_000),
        A2CAgent,
        "update",
        123,
    ),
    "a2c-paired": Case(
        {
            **cartpole({"name": "a2c", "n_steps": 8}, 4, 2_000),
            "env": {"id": "CartPole-v1", "num_envs": 4, "vectorization": "paired"},
        },
        A2CAgent,
        "update",
        123,
    ),
    "ppo": Case(
        cartpole(
            {
                "name": "ppo",
                "n_steps": 64,
                "minibatches": 4,
                "epochs": 2,
                "normalize_observations": True,
                "normalize_rewards": True,
            },
            4,
            2_048,
        ),
        PPOAgent,
        "update",
        100,  # mid-rollout, after the first update
    ),
    "reinforce": Case(
        cartpole({"name": "reinforce", "baseline": True, "episodes_per_update": 2}, 2, 2_000),
        ReinforceAgent,
        "update",
        333,
    ),
    "alphazero": Case(
        tiny_experiment(),
        AlphaZeroLoop,
        "_train",
        2,  # the second iteration's training phase
    ),
    "ga": Case(
        ga_experiment(),
        GALoop,
        "_select_elite",
        2,  # the second generation, between its fitness and its elite evaluations
    ),
}


def interrupt_at(monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    """Make the case's n-th stop_method call send this process a real SIGINT (Ctrl-C)."""
    original = getattr(case.stop_class, case.stop_method)
    count = {"n": 0}

    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] == case.stop_call:
            signal.raise_signal(signal.SIGINT)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(case.stop_class, case.stop_method, wrapped)


def results(summary: dict[str, Any]) -> dict[str, Any]:
    """summary.json without its timings."""
    kept = {k: v for k, v in summary.items() if k not in TIMING}
    if "history" in kept:
        kept["history"] = [
            {k: v for k, v in point.items() if not k.startswith(TIMED_METRICS)}
            for point in kept["history"]
        ]
    return kept


@pytest.mark.parametrize("name", list(CASES))
def test_resume_after_ctrl_c_equals_the_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    case = CASES[name]
    straight = train(load_experiment(case.experiment), tmp_path / "straight")
    with monkeypatch.context() as patch:
        interrupt_at(patch, case)
        with pytest.raises(TrainingInterrupted):
            train(load_experiment(case.experiment), tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "summary.json").exists()
    resumed = resume(tmp_path / "resumed")
    assert results(resumed) == results(straight)
    ends = [checkpoint.load(checkpoint.latest(tmp_path / r)) for r in ("straight", "resumed")]
    assert_bit_identical(ends[0]["agent"], ends[1]["agent"], "agent")


def test_a_checkpoint_without_the_sessions_counters_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    """A Deep GA checkpoint of an rlkit before the run session counted generations and frames."""
    run_dir = tmp_path / "run"
    train(load_experiment(small_experiment()), run_dir)
    path = checkpoint.latest(run_dir)
    state = checkpoint.load(path)
    state["counters"] = {"generation": 1, "frames": 500, "episodes": 3, "wall_s": 1.0}
    checkpoint.save(path, state)
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        resume(run_dir, ["run.total_steps=8000"])
