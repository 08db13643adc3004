"""Helpers shared by the tests (the tests directory is on sys.path under pytest)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from rlkit.agent import Transition
from rlkit.agents.ga.backends import EvalTask, Fitness, Poll


def small_experiment(**run: Any) -> dict[str, Any]:
    """A seconds-long tabular run on FrozenLake (vector env of 4)."""
    return {
        "name": "small",
        "env": {"id": "FrozenLake-v1", "num_envs": 4, "kwargs": {"is_slippery": True}},
        "agent": {
            "name": "tabular",
            "rule": "q_learning",
            "epsilon": {"kind": "linear", "start": 1.0, "end": 0.1, "steps": 2_000},
        },
        "run": {
            "total_steps": 4_000,
            "seed": 7,
            "eval_every": 1_000,
            "eval_episodes": 20,
            "checkpoint_every": 1_000,
            "log_every": 500,
            "progress": False,
            **run,
        },
    }


def batch(
    s: list[int],
    a: list[int],
    r: list[float],
    s2: list[int],
    terminated: list[bool] | None = None,
    truncated: list[bool] | None = None,
) -> Transition:
    """A vector step of a tabular env from plain lists (one entry per env)."""
    n = len(s)
    return Transition(
        obs=np.array(s),
        action=np.array(a),
        reward=np.array(r, dtype=np.float32),
        next_obs=np.array(s2),
        terminated=np.array(terminated or [False] * n),
        truncated=np.array(truncated or [False] * n),
    )


def set_q(agent: Any, online: list[float], target: list[float]) -> None:
    """Zero a DQN agent's weights: Q(s, .) = `online` and Q_target(s, .) = `target` for any s."""
    with torch.no_grad():
        for net, q in ((agent.online, online), (agent.target, target)):
            for p in net.parameters():
                p.zero_()
            net.head.advantage.bias.copy_(torch.tensor(q))


def interrupt_after(monkeypatch: pytest.MonkeyPatch, cls: type, calls: int) -> None:
    """Make the n-th update() send this process a real SIGINT (Ctrl-C)."""
    original = cls.update
    count = {"n": 0}

    def update(self: Any) -> dict[str, float]:
        count["n"] += 1
        if count["n"] == calls:
            signal.raise_signal(signal.SIGINT)
        return original(self)  # type: ignore[no-any-return]

    monkeypatch.setattr(cls, "update", update)


class HandMadeFitness:
    """A backend whose returns (and behaviours) come from tables instead of episodes; records
    every call."""

    def __init__(
        self,
        fitness: list[float],
        elite_means: list[float],
        episodes: int,
        behaviours: list[float] | None = None,
    ) -> None:
        self.fitness, self.elite_means, self.episodes = fitness, elite_means, episodes
        self.behaviours = behaviours
        self.calls: list[list[EvalTask]] = []

    def evaluate(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]:
        self.calls.append(list(tasks))
        elite_phase = len(self.calls) % 2 == 0
        out = []
        for task in tasks:
            value = (
                self.elite_means[task.index // self.episodes]
                if elite_phase
                else self.fitness[task.index]
            )
            behaviour = None
            if self.behaviours is not None and not elite_phase:
                behaviour = np.array([self.behaviours[task.index]])
            out.append(Fitness(task.index, value, (value,), 10, behaviour))
        return out

    def close(self) -> None:
        pass


@contextlib.contextmanager
def ga_loop(experiment: Any, run_dir: Path, backend: Any) -> Iterator[Any]:
    """The Deep GA's training loop in a run session over `run_dir`, evaluating with `backend`."""
    from rlkit.training.runner import open_session

    with open_session(experiment, run_dir, backend=backend) as session:
        yield session.loop


def assert_bit_identical(a: Any, b: Any, where: str = "state") -> None:
    """Nested dicts, lists, tensors and arrays equal bit for bit."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_bit_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_bit_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif hasattr(a, "tobytes"):
        assert a.tobytes() == b.tobytes(), where
    else:
        assert a == b, where


def tiny_experiment(**agent: Any) -> dict[str, Any]:
    """Seconds of tic-tac-toe AlphaZero against a random opponent."""
    return {
        "name": "az_tiny",
        "env": {"id": "rlkit/TicTacToe-v0", "kwargs": {"opponent": "random"}},
        "agent": {
            "name": "alphazero",
            "channels": 8,
            "blocks": 1,
            "value_hidden": 16,
            "simulations": 8,
            "games_per_iteration": 6,
            "concurrent_games": 3,
            "replay_size": 512,
            "batch_size": 16,
            "train_steps": 4,
            "arena_games": 2,
            "iterations": 2,
            **agent,
        },
        "run": {"seed": 3, "eval_episodes": 4, "progress": False},
    }


def ga_experiment(**agent: Any) -> dict[str, Any]:
    """A seconds-long GA run on CartPole (episodes cut at 100 steps)."""
    return {
        "name": "ga_small",
        "env": {"id": "CartPole-v1", "max_episode_steps": 100},
        "agent": {
            "name": "ga",
            "hidden": [8],
            "population": 8,
            "truncation": 3,
            "sigma": 0.1,
            "elite_candidates": 2,
            "elite_episodes": 2,
            "generations": 3,
            **agent,
        },
        "run": {"seed": 3, "eval_episodes": 3, "progress": False},
    }


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    """`rlkit ARGV` in-process: (exit code, stderr)."""
    from rlkit.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


SUMMARY_OUTCOME = ("steps", "episodes", "final_eval")
"""The summary.json keys two runs that took the same steps agree on."""


def assert_same_outcome(run_dir: Path, reference: Path | dict[str, Any]) -> None:
    """`run_dir`'s summary.json has the steps, episodes and final evaluation of `reference`
    (a run directory or its summary)."""
    import json

    mine = json.loads((run_dir / "summary.json").read_text())
    theirs = (
        reference
        if isinstance(reference, dict)
        else json.loads((reference / "summary.json").read_text())
    )
    for key in SUMMARY_OUTCOME:
        assert mine[key] == theirs[key], key
