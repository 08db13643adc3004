"""The Deep GA's selection on hand-made fitness: ties, elite candidates, fitness seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import HandMadeFitness, ga_loop

from rlkit.agents.ga.genome import Genome
from rlkit.experiment import load_experiment
from rlkit.training.session import StopFlag


def experiment(seed: int = 3, **agent: Any) -> Any:
    """A CartPole GA whose fitness never runs an episode (the backend below makes it up)."""
    settings = {"name": "ga", "hidden": [4], "truncation": 2, "elite_episodes": 2, **agent}
    return load_experiment(
        {
            "name": "ga_selection",
            "env": {"id": "CartPole-v1", "max_episode_steps": 20},
            "agent": settings,
            "run": {"seed": seed, "eval_episodes": 1, "progress": False},
        }
    )


def table_fitness(fitness: list[float]) -> HandMadeFitness:
    """Returns from a table; the elite candidates' 2 extra episodes all return 0."""
    return HandMadeFitness(fitness, elite_means=[0.0] * len(fitness), episodes=2)


def generations(
    tmp_path: Path, backend: HandMadeFitness, count: int, seed: int = 3, **agent: Any
) -> list[list[Genome]]:
    """Run `count` generations; the population at the start of each."""
    populations = []
    with ga_loop(experiment(seed, **agent), tmp_path, backend) as trainer:
        for g in range(count):
            trainer.generation = g
            populations.append(list(trainer.population))
            trainer._generation(StopFlag())
    return populations


def test_ties_at_the_truncation_boundary_go_to_the_earlier_individuals(tmp_path: Path) -> None:
    backend = table_fitness([0, 0, 0, 0, 1, 1, 1, 1])
    with ga_loop(
        experiment(population=8, truncation=1, elite_candidates=2), tmp_path, backend
    ) as trainer:
        population = list(trainer.population)
        trainer._generation(StopFlag())
        children = trainer.population[1:]
    assert {child.parent() for child in children} == {population[4]}  # the first of the best
    elite_tasks = backend.calls[1]  # the top two by return, in index order, 2 episodes each
    assert [t.genome for t in elite_tasks] == [population[4]] * 2 + [population[5]] * 2


def test_fitness_episodes_are_seeded_by_run_generation_and_individual(tmp_path: Path) -> None:
    seeds = []
    for run_seed in (3, 4):
        backend = table_fitness([1, 2, 3, 4])
        generations(
            tmp_path / str(run_seed), backend, 2, run_seed, population=4, elite_candidates=2
        )
        seeds.append([[t.seed for t in backend.calls[i]] for i in (0, 2)])  # fitness calls
    first_run = seeds[0][0] + seeds[0][1]
    assert len(set(first_run)) == 8  # 4 individuals x 2 generations, all different
    assert not set(first_run) & set(seeds[1][0] + seeds[1][1])  # another run seed: others


def test_generation_0_re_evaluates_only_the_top_candidates(tmp_path: Path) -> None:
    backend = table_fitness([0, 1, 5, 2, 4, 3])  # individual 0 ranks last
    population = generations(tmp_path, backend, 1, population=6, elite_candidates=1)[0]
    assert [t.genome for t in backend.calls[1]] == [population[2]] * 2


@pytest.mark.parametrize("best", [1, 2])
def test_the_previous_elite_is_re_evaluated_beside_the_top_candidates(
    tmp_path: Path, best: int
) -> None:
    backend = table_fitness([0, 1, 5, 2, 4, 3])
    with ga_loop(experiment(population=6, elite_candidates=1), tmp_path, backend) as trainer:
        trainer._generation(StopFlag())
        trainer.generation = 1
        population = list(trainer.population)
        backend.fitness = [0.0] * 6
        backend.fitness[best] = 9.0  # the elite (index 0) ranks last, `best` first
        trainer._generation(StopFlag())
    assert [t.genome for t in backend.calls[-1]] == [population[best]] * 2 + [population[0]] * 2
