"""Same seed, same result: deep agents' runs are bit-identical on one machine kind.

What is promised (README, "Reproducibility"): on the same machine kind (CPU model and torch's CPU
capability), with the same library versions, on the CPU, a seed gives a bit-identical run:
every parameter, every evaluation. Across CPU kinds float results differ in the last bits and
chaotic learners then diverge, which is why the learning tests claim k of n seeds. These tests
run each agent twice on the same seed, once in a fresh Python process, and compare bits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_bit_identical

from rlkit import checkpoint
from rlkit.experiment import load_experiment
from rlkit.training.runner import train

CARTPOLE_RUNS: dict[str, tuple[dict[str, Any], int]] = {
    "dqn": ({"learning_starts": 200, "train_frequency": 4, "target_update_interval": 100}, 1_500),
    "a2c": ({"n_steps": 5}, 1_500),
    "reinforce": ({"episodes_per_update": 2}, 1_500),
}
COMPARED = ("steps", "episodes", "final_eval", "evaluations")


def cartpole_run(agent: str, seed: int) -> dict[str, Any]:
    settings, steps = CARTPOLE_RUNS[agent]
    return {
        "env": {"id": "CartPole-v1", "num_envs": 2},
        "agent": {"name": agent, "hidden": [32], "device": "cpu", **settings},
        "run": {"total_steps": steps, "seed": seed, "eval_every": 500, "eval_episodes": 2,
                "progress": False},
    }  # fmt: skip


def trained(agent: str, seed: int, run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the comparable part of summary.json, the final checkpoint's agent state)."""
    summary = train(load_experiment(cartpole_run(agent, seed)), run_dir)
    state = checkpoint.load(checkpoint.latest(run_dir))["agent"]
    return {k: summary[k] for k in COMPARED}, state


def differs(a: Any, b: Any) -> bool:
    try:
        assert_bit_identical(a, b)
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("agent", sorted(CARTPOLE_RUNS))
def test_same_seed_same_bits_other_seed_differs(tmp_path: Path, agent: str) -> None:
    summary_a, state_a = trained(agent, 3, tmp_path / "a")
    summary_b, state_b = trained(agent, 3, tmp_path / "b")
    assert summary_a == summary_b
    assert_bit_identical(state_a, state_b)
    _, state_c = trained(agent, 4, tmp_path / "c")
    assert differs(state_a, state_c)


def test_a_fresh_process_gives_the_same_bits(tmp_path: Path) -> None:
    """Nothing process-wide (hash seeds, torch's global RNG, import order) leaks into a run."""
    summary, state = trained("dqn", 5, tmp_path / "here")
    script = (
        "import json, sys\n"
        "from rlkit.experiment import load_experiment\n"
        "from rlkit.training.runner import train\n"
        "s = train(load_experiment(json.loads(sys.argv[1])), sys.argv[2])\n"
        "print(json.dumps(s))\n"
    )
    command = [sys.executable, "-c", script, json.dumps(cartpole_run("dqn", 5)), "there"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True)
    other = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: other[k] for k in COMPARED} == summary
    assert_bit_identical(state, checkpoint.load(checkpoint.latest(tmp_path / "there"))["agent"])
