"""The runner: run directory contents, determinism, and resume == uninterrupted."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from helpers import interrupt_after, small_experiment

import rlkit
from rlkit import checkpoint
from rlkit.agent import Agent, EnvSpec, Transition
from rlkit.experiment import load_experiment
from rlkit.training.runner import TrainingInterrupted, resume, train

COMPARED = ("steps", "episodes", "final_eval", "evaluations")


def final_state(run_dir: Path) -> dict[str, Any]:
    return checkpoint.load(checkpoint.latest(run_dir))


def test_run_directory_contract(tmp_path: Path) -> None:
    summary = train(load_experiment(small_experiment()), tmp_path / "run")
    run = tmp_path / "run"
    assert (run / "config.toml").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    assert [p.name for p in checkpoint.list_checkpoints(run)][-1] == "step-0000004000.pt"
    on_disk = json.loads((run / "summary.json").read_text())
    assert on_disk == summary
    assert summary["steps"] == 4_000
    assert {"steps", "episodes", "wall_s", "final_eval"} <= set(summary)
    assert {"episodes", "mean_return", "std_return"} <= set(summary["final_eval"])
    assert summary["final_eval"]["episodes"] == 20
    assert [e["step"] for e in summary["evaluations"]] == [1000, 2000, 3000, 4000]


def test_same_seed_same_result_different_seed_differs(tmp_path: Path) -> None:
    a = train(load_experiment(small_experiment()), tmp_path / "a")
    b = train(load_experiment(small_experiment()), tmp_path / "b")
    train(load_experiment(small_experiment(seed=8)), tmp_path / "c")
    assert {k: a[k] for k in COMPARED} == {k: b[k] for k in COMPARED}
    qa, qb, qc = (final_state(tmp_path / r)["agent"]["tables"] for r in "abc")
    np.testing.assert_array_equal(qa, qb)
    assert not np.array_equal(qa, qc)


@dataclass
class NoConfig:
    """No settings."""


class RandomWalker(Agent[NoConfig]):
    """Random actions; remembers a running sum of what it saw (CartPole's float state)."""

    config_class = NoConfig

    def __init__(self, config: NoConfig, spec: EnvSpec, seed: int) -> None:
        super().__init__(config, spec, seed)
        self.seen = np.zeros(4)

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        return self.rng.integers(2, size=len(obs))

    def observe(self, transition: Transition) -> None:
        self.seen += transition.next_obs.sum(axis=0)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": self.seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = state["seen"]


def test_resume_restores_classic_control_env_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rlkit.register_agent("test_random_walker")(RandomWalker)
    data = {
        "env": {"id": "CartPole-v1", "num_envs": 3},
        "agent": {"name": "test_random_walker"},
        "run": {"total_steps": 3_000, "eval_every": 900, "eval_episodes": 3, "progress": False},
    }
    straight = train(load_experiment(data), tmp_path / "straight")
    interrupt_after(monkeypatch, RandomWalker, 401)
    with pytest.raises(TrainingInterrupted):
        train(load_experiment(data), tmp_path / "resumed")
    monkeypatch.undo()
    resumed = resume(tmp_path / "resumed")
    assert {k: resumed[k] for k in COMPARED} == {k: straight[k] for k in COMPARED}
    np.testing.assert_array_equal(
        final_state(tmp_path / "resumed")["agent"]["seen"],
        final_state(tmp_path / "straight")["agent"]["seen"],
    )


def test_resume_can_extend_the_budget(tmp_path: Path) -> None:
    train(load_experiment(small_experiment(total_steps=2_000)), tmp_path / "short")
    extended = resume(tmp_path / "short", ["run.total_steps=4000"])
    full = train(load_experiment(small_experiment()), tmp_path / "full")
    assert extended["steps"] == full["steps"] == 4_000
    # The 2,000-step run's final evaluation and checkpoint happen in between, so only the
    # learned tables are compared: training itself is not perturbed by evaluation.
    np.testing.assert_array_equal(
        final_state(tmp_path / "short")["agent"]["tables"],
        final_state(tmp_path / "full")["agent"]["tables"],
    )


def test_checkpoints_are_pruned_to_keep(tmp_path: Path) -> None:
    train(
        load_experiment(small_experiment(checkpoint_every=500, keep_checkpoints=2)), tmp_path / "r"
    )
    names = [p.name for p in checkpoint.list_checkpoints(tmp_path / "r")]
    assert names == ["step-0000003500.pt", "step-0000004000.pt"]


def test_async_vector_env_matches_sync(tmp_path: Path) -> None:
    sync = train(load_experiment(small_experiment(total_steps=2_000)), tmp_path / "sync")
    data = small_experiment(total_steps=2_000)
    data["env"]["vectorization"] = "async"
    asynchronous = train(load_experiment(data), tmp_path / "async")
    assert {k: asynchronous[k] for k in COMPARED} == {k: sync[k] for k in COMPARED}


class EnvChecker(RandomWalker):
    """Records, at every act, whether the envs it was last attached to are the ones it acts on."""

    acted_on_attached: ClassVar[list[bool]] = []

    def attach(self, envs: Any) -> None:
        self.attached = envs

    def act(self, obs: np.ndarray, explore: bool) -> np.ndarray:
        self.acted_on_attached.append(explore == (self.attached.num_envs == 3))
        return super().act(obs, explore)


def test_planning_agents_are_reattached_to_the_training_envs_after_evaluation(
    tmp_path: Path,
) -> None:
    rlkit.register_agent("test_env_checker")(EnvChecker)
    data = {
        "env": {"id": "CartPole-v1", "num_envs": 3},
        "agent": {"name": "test_env_checker"},
        "run": {"total_steps": 900, "eval_every": 300, "eval_episodes": 2, "progress": False},
    }
    train(load_experiment(data), tmp_path / "run")
    assert len(EnvChecker.acted_on_attached) > 300
    assert all(EnvChecker.acted_on_attached)


def test_resume_finishes_a_run_stopped_after_its_last_checkpoint(tmp_path: Path) -> None:
    """Killed between its last checkpoint and summary.json (a sweep's kill -9 can land there):
    --resume evaluates and writes the summary the uninterrupted run wrote; after that, the run
    is complete and --resume refuses."""
    run_dir = tmp_path / "r"
    summary = train(load_experiment(small_experiment()), run_dir)
    (run_dir / "summary.json").unlink()
    finished = resume(run_dir)
    timing = ("wall_s", "steps_per_second")
    assert {k: v for k, v in finished.items() if k not in timing} == {
        k: v for k, v in summary.items() if k not in timing
    }
    with pytest.raises(rlkit.RlkitError, match="already reached run.total_steps"):
        resume(run_dir)
