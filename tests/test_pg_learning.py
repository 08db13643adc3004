"""Learning tests: tuned REINFORCE and A2C reach a greedy 475 on CartPole-v1 (fixed seed)."""

from pathlib import Path

import pytest

from rlkit.experiment import load_experiment
from rlkit.runner import train

pytestmark = pytest.mark.slow
TARGET = ["run.progress=false", "run.target_return=475", "run.final_eval_episodes=1"]


def evaluations(summary: dict[str, object]) -> list[tuple[int, int]]:
    history = summary["evaluations"][:-1]  # type: ignore[index]  # the last one is the final
    return [(e["step"], round(e["mean_return"])) for e in history]


def test_reinforce_reaches_475_within_1000_episodes(tmp_path: Path) -> None:
    experiment = load_experiment("cartpole_reinforce", TARGET)
    assert experiment.run.eval_episodes == 20
    summary = train(experiment, tmp_path / "reinforce")
    print("reinforce", summary["episodes"], "episodes", evaluations(summary))
    assert summary["reached_target_at"] is not None, evaluations(summary)
    assert summary["episodes"] <= 1_000  # episodes trained on when the target was reached


def test_a2c_reaches_475_within_200k_steps(tmp_path: Path) -> None:
    experiment = load_experiment("cartpole_a2c", [*TARGET, "run.total_steps=200_000"])
    assert experiment.run.eval_episodes == 20
    summary = train(experiment, tmp_path / "a2c")
    print("a2c", summary["reached_target_at"], "steps", evaluations(summary))
    assert summary["reached_target_at"] is not None, evaluations(summary)
    assert summary["reached_target_at"] <= 200_000
