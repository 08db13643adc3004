"""rlkit/DeceptiveMaze-v0: Gymnasium's checker, walls, the trap; the Deep GA stuck in the trap
while novelty search, with the same seed and budget, reaches the goal; the same for ES vs NS-ES,
and NSR-ES reaching it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from across_seeds import Outcome, at_least_k_of
from gymnasium.utils.env_checker import check_env

import rlkit.envs  # noqa: F401 - registers rlkit/DeceptiveMaze-v0
from rlkit import checkpoint
from rlkit.envs.maze import GOAL, HEADINGS, DeceptiveMazeEnv, ray_distance
from rlkit.experiment import load_experiment
from rlkit.training.runner import resume, train

ENV_ID = "rlkit/DeceptiveMaze-v0"
UP, RIGHT, DOWN, LEFT = 0, 2, 4, 6
EXPERIMENTS = Path(__file__).parent.parent / "experiments"
TRAP_RETURN = 4.0  # the cup's top wall is 2 from the goal, the start 6
GOAL_RETURN = 5.5  # within 0.5 of the goal


def play(env: gym.Env[np.ndarray, np.int64], actions: list[int]) -> tuple[float, bool, bool]:
    """Take `actions` (stopping where the episode ends): return, terminated, truncated."""
    total, terminated, truncated = 0.0, False, False
    for action in actions:
        _, reward, terminated, truncated, _ = env.step(np.int64(action))
        total += float(reward)
        if terminated or truncated:
            break
    return total, terminated, truncated


@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_passes_gymnasiums_env_checker(mode: str) -> None:
    env = gym.make(ENV_ID, render_mode=mode)
    check_env(env.unwrapped, skip_render_check=False)
    env.reset(seed=0)
    frame = env.render()
    if mode == "ansi":
        assert isinstance(frame, str)
        assert frame.count("R") == 4  # a 2x2 robot on the 20x20 text map
    else:
        assert isinstance(frame, np.ndarray)
        assert frame.shape == (100, 100, 3)
    env.close()


def test_observation_and_determinism() -> None:
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=123)
    # position (5, 3) scaled; ranges up 4 (to the cup top), right 1.5, down 3, left 1.5; goal +6 y
    np.testing.assert_allclose(obs, [0, -0.4, 0.4, 0.15, 0.3, 0.15, 0, 0.6], atol=1e-6)
    actions = list(np.random.default_rng(0).integers(0, 8, 60))
    first = (play(env, actions), env.unwrapped.position)  # type: ignore[attr-defined]
    env.reset(seed=999)
    second = (play(env, actions), env.unwrapped.position)  # type: ignore[attr-defined]
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    env.close()


def test_walls_block_movement() -> None:
    env = DeceptiveMazeEnv()
    env.reset()
    play(env, [LEFT] * 10)  # the cup's left arm spans x in [3, 3.5]
    assert env.position[0] == pytest.approx(3.5, abs=2e-3)
    assert env.position[0] > 3.5
    play(env, [UP] * 20)  # the top wall spans y in [7, 7.5]
    assert env.position[1] == pytest.approx(7.0, abs=2e-3)
    assert env.position[1] < 7.0
    before = env.position
    play(env, [1, 1])  # up-right into the ceiling: stuck (up to the clearance)
    np.testing.assert_allclose(env.position, before, atol=1e-3)
    assert env.position[1] < 7.0
    assert ray_distance((5.0, 1.0), (0.0, -1.0)) == pytest.approx(1.0)  # the arena's edge
    assert ray_distance((1.0, 5.0), (1.0, 0.0)) == pytest.approx(2.0)  # the left arm's face


def test_greedy_movement_toward_the_goal_ends_in_the_trap() -> None:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    maze = env.unwrapped
    assert isinstance(maze, DeceptiveMazeEnv)
    total, terminated, truncated, steps = 0.0, False, False, 0
    while not (terminated or truncated):
        greedy = np.argmax(HEADINGS @ (np.asarray(GOAL) - maze.position))
        _, reward, terminated, truncated, _ = env.step(np.int64(greedy))
        total, steps = total + float(reward), steps + 1
    assert (steps, terminated, truncated) == (60, False, True)
    assert total == pytest.approx(TRAP_RETURN, abs=2e-3)
    np.testing.assert_allclose(maze.position, [5.0, 7.0], atol=2e-3)  # under the cup's top


def test_the_detour_reaches_the_goal() -> None:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    # down out of the cup, left round its arm, up past its top, then right and up to the goal
    detour = [DOWN] * 3 + [LEFT] * 5 + [UP] * 13 + [RIGHT] * 5 + [UP] * 2
    total, terminated, _ = play(env, detour)
    assert terminated
    assert total == pytest.approx(GOAL_RETURN)
    assert env.unwrapped.distance_to_goal() == pytest.approx(0.5)  # type: ignore[attr-defined]
    env.close()


def maze_experiment(mode: str) -> dict[str, Any]:
    """The bundled maze experiment (GA or novelty search)."""
    with open(EXPERIMENTS / f"maze_{mode}.toml", "rb") as f:
        data: dict[str, Any] = tomllib.load(f)
    data["run"]["progress"] = False
    return data


def test_bundled_maze_experiments_differ_only_in_novelty_mode() -> None:
    ga, ns = maze_experiment("ga"), maze_experiment("novelty")
    assert ga["agent"]["novelty"].pop("mode") == "off"
    assert ns["agent"]["novelty"].pop("mode") == "ns"
    assert (ga["env"], ga["agent"], ga["run"]) == (ns["env"], ns["agent"], ns["run"])


def test_novelty_search_resumes_exactly_with_its_archive(tmp_path: Path) -> None:
    data = maze_experiment("novelty")
    data["agent"].update(population=12, truncation=4, generations=4)
    data["agent"]["novelty"]["archive_probability"] = 0.5
    straight = train(load_experiment(data), tmp_path / "straight")
    data["agent"]["generations"] = 2
    train(load_experiment(data), tmp_path / "split")
    resumed = resume(tmp_path / "split", ["agent.generations=4"])
    for key in ("steps", "evaluations", "final_eval", "generations"):
        assert resumed[key] == straight[key]
    ends = [checkpoint.load(checkpoint.latest(tmp_path / run)) for run in ("straight", "split")]
    for a, b in zip(ends[0]["population"], ends[1]["population"], strict=True):
        np.testing.assert_array_equal(a, b)  # the same parents were selected on novelty
    np.testing.assert_array_equal(
        ends[0]["archive"]["behaviours"], ends[1]["archive"]["behaviours"]
    )
    assert ends[1]["archive"]["generations"] == 4
    assert len(ends[1]["archive"]["behaviours"]) > 0


@pytest.mark.slow
def test_ga_is_trapped_while_novelty_search_reaches_the_goal(tmp_path: Path) -> None:
    """Over seeds (tests/across_seeds.py): the GA climbs into the trap and stays there for the
    whole budget while novelty search, with the same seed and budget, reaches the goal."""

    def claim(seed: int) -> Outcome:
        results = {}
        for mode in ("ga", "novelty"):
            data = maze_experiment(mode)
            data["run"]["seed"] = seed
            experiment = load_experiment(data)
            summary = train(experiment, tmp_path / f"{mode}-{seed}")
            best = max(entry["mean_return"] for entry in summary["evaluations"])
            results[mode] = (summary["generations"], best, summary["reached_target_at"])
        budget = experiment.agent.generations
        ga_generations, ga_best, ga_reached = results["ga"]
        ns_generations, ns_best, ns_reached = results["novelty"]
        trapped = (ga_generations, ga_reached) == (budget, None) and abs(
            ga_best - TRAP_RETURN
        ) <= 2e-3  # climbed into the trap, never out
        escaped = ns_reached is not None and ns_generations < budget and ns_best >= GOAL_RETURN
        return trapped and escaped, f"(generations, best, reached at frame): {results}"

    # Novelty search reached the goal within the 50 generations on 7 of seeds 0-9 (the same on
    # every emulated CPU kind; RESULTS.md): at that rate 1 of 7 seeds fails once in 2,000 runs.
    at_least_k_of(claim, (1, 2, 3, 4, 5, 6, 7), 1, "maze")


@pytest.mark.slow
def test_es_is_trapped_while_ns_es_reaches_the_goal(tmp_path: Path) -> None:
    """Over seeds: maze_nses as shipped (budget cut to 200 iterations) reaches the goal, and
    plain ES with the same seed and as many iterations climbs into the trap and stays."""

    def claim(seed: int) -> Outcome:
        results = {}
        iterations = 200
        for mode in ("ns", "es"):
            data = maze_experiment("nses")
            data["run"]["seed"] = seed
            data["agent"].update(mode=mode, iterations=iterations)
            summary = train(load_experiment(data), tmp_path / f"{mode}-{seed}")
            best = max(entry["mean_return"] for entry in summary["evaluations"])
            results[mode] = (summary["iterations"], best, summary["reached_target_at"])
            iterations = summary["iterations"]  # ES gets as many as NS-ES needed
        ns_iterations, ns_best, ns_reached = results["ns"]
        _, es_best, es_reached = results["es"]
        escaped = ns_reached is not None and ns_iterations < 200 and ns_best >= GOAL_RETURN
        trapped = es_reached is None and abs(es_best - TRAP_RETURN) <= 2e-3
        return escaped and trapped, f"(iterations, best, reached at frame): {results}"

    # Seeds 3, 0, 1, 4 reached the goal at iterations 40, 137, 149, 178 and ES was trapped on
    # every seed 0-4 (RESULTS_es.md): decided by the first seed unless its trajectory differs.
    at_least_k_of(claim, (3, 0, 1, 4), 1, "maze ES vs NS-ES")


@pytest.mark.slow
def test_nsr_es_reaches_the_goal(tmp_path: Path) -> None:
    """Over seeds: maze_nsres as shipped (budget cut to 200 iterations) reaches the goal."""

    def claim(seed: int) -> Outcome:
        data = maze_experiment("nsres")
        data["run"]["seed"] = seed
        data["agent"]["iterations"] = 200
        summary = train(load_experiment(data), tmp_path / f"nsr-{seed}")
        reached = summary["reached_target_at"] is not None and summary["iterations"] < 200
        return reached, f"{summary['iterations']} iterations, final {summary['final_eval']}"

    # Seeds 0, 4, 2 reached the goal at iterations 20, 144, 155 (RESULTS_es.md).
    at_least_k_of(claim, (0, 4, 2), 1, "maze NSR-ES")
