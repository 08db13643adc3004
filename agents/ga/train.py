"""The Deep GA trainer (Such et al. 2017), beside the runner: it evolves GAAgent genomes.

Per generation: evaluate the population's fitness (mean return, or the novelty archive's NS/NSR
score), take the top `truncation` as parents, re-evaluate the top `elite_candidates` by return
(and the previous elite) on `elite_episodes` common extra episodes, keep the best unchanged as
the elite, and fill the next population with mutated children of random parents (no
crossover). All randomness comes from the run's seed: the population RNG is checkpointed and
every evaluation's env seed is derived from (seed, generation, index), so a resumed run and
every backend give the same result as one uninterrupted serial run. run.eval_every and
run.checkpoint_every are not used: each generation's elite re-evaluation is its evaluation
(TensorBoard eval/mean_return) and every generation is checkpointed (a population is seeds).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from rlkit.agent import Agent
from rlkit.agents.ga.backends import (
    Backend,
    EvalTask,
    Fitness,
    ProcessBackend,
    SerialBackend,
)
from rlkit.agents.ga.batch import GenomePolicy
from rlkit.agents.ga.config import GAConfig
from rlkit.agents.ga.genome import SEED_LIMIT, Genome
from rlkit.agents.ga.novelty import NoveltyArchive
from rlkit.agents.ga.rounds import RoundsLoop
from rlkit.envs.factory import env_spec
from rlkit.errors import RlkitError
from rlkit.seeding import derive_seed
from rlkit.training.logger import n_episodes
from rlkit.training.session import Session, StopFlag

_POPULATION, _FITNESS, _ELITE, _ARCHIVE = 20, 21, 22, 23  # derive_seed tags


@dataclass(frozen=True)
class Generation:
    """What one generation measured."""

    returns: np.ndarray
    scores: np.ndarray
    elite: Genome
    elite_fitness: float
    elite_return: float
    elite_std: float
    """The std of the elite's returns over its re-evaluation episodes."""
    elite_episodes: int
    frames: int
    episodes: int
    evaluations: int
    seconds: float


class GALoop(RoundsLoop):
    """The Deep GA's training loop in the run session: one generation per step, each
    checkpointed. The session's step counter counts emulator frames; TensorBoard's x axis too."""

    noun = "generation"
    setting = "agent.generations"

    def __init__(self, session: Session, backend: Backend | None = None) -> None:
        super().__init__(session)
        self.config: GAConfig = self.experiment.agent
        self.backend = backend
        self.generation = 0

    def make_agent(self) -> Agent[Any]:
        exp = self.experiment
        seed = exp.run.seed
        agent = self.session.build_agent(env_spec(exp.env, self.session.evaluation_envs()))
        self.agent = cast(GenomePolicy, agent)
        self.rng = np.random.default_rng(derive_seed(seed, _POPULATION))
        self.population = [Genome(self._seed()) for _ in range(self.config.population)]
        self.archive = NoveltyArchive(self.config.novelty, derive_seed(seed, _ARCHIVE))
        if self.backend is None:
            self.backend = make_backend(self.config, exp.to_dict())
        return agent

    def rounds_limit(self) -> int | None:
        return self.config.generations

    def rounds_done(self) -> int:
        return self.generation

    def evaluation_plan(self) -> str:
        return (
            f"each generation's elite re-evaluated on {n_episodes(self.config.elite_episodes)}, "
            "then a final greedy evaluation"
        )

    def train(self, stop: StopFlag) -> None:
        session = self.session
        while not self.finished():
            stats = self._generation(stop)
            self._log(stats)
            session.evaluated(
                session.counters.step,
                stats.elite_return,
                stats.elite_std,
                stats.elite_episodes,
                where=f"generation {self.generation} ({session.counters.step:,} frames)",
                label="elite eval",
            )
            session.save()
            session.bar.update(
                self.progress(), f"gen {self.generation} elite {stats.elite_return:.3f}"
            )
            if stop.requested:
                session.interrupt()

    def _seed(self) -> int:
        return int(self.rng.integers(0, SEED_LIMIT))

    def _generation(self, stop: StopFlag) -> Generation:
        """Evaluate, select, pick the elite, breed; the trainer's state changes only at the end."""
        cfg, seed, g = self.config, self.experiment.run.seed, self.generation
        start = time.perf_counter()
        tasks = [
            EvalTask(i, genome, cfg.episodes_per_eval, derive_seed(seed, _FITNESS, g, i))
            for i, genome in enumerate(self.population)
        ]
        fitness = self.evaluate_tasks(tasks, stop)
        returns = np.array([f.mean_return for f in fitness])
        behaviours = None
        if cfg.novelty.mode != "off":
            behaviours = np.stack([np.asarray(f.behaviour) for f in fitness])
        scores = self.archive.selection_scores(
            behaviours if behaviours is not None else np.zeros((len(returns), 1)), returns
        )
        parents = [self.population[i] for i in np.argsort(-scores, kind="stable")[: cfg.truncation]]
        elite, elite_fitness, elite_returns, extra = self._select_elite(returns, stop)
        if behaviours is not None:
            self.archive.update(behaviours)
        children = [
            parents[int(self.rng.integers(cfg.truncation))].child(self._seed(), cfg.sigma)
            for _ in range(cfg.population - 1)
        ]
        self.population = [elite, *children]
        self.agent.set_genome(elite)
        all_results = [*fitness, *extra]
        return Generation(
            returns=returns,
            scores=scores,
            elite=elite,
            elite_fitness=elite_fitness,
            elite_return=float(np.mean(elite_returns)),
            elite_std=float(np.std(elite_returns)),
            elite_episodes=len(elite_returns),
            frames=sum(f.frames for f in all_results),
            episodes=sum(len(f.returns) for f in all_results),
            evaluations=len(all_results),
            seconds=time.perf_counter() - start,
        )

    def _select_elite(
        self, returns: np.ndarray, stop: StopFlag
    ) -> tuple[Genome, float, list[float], list[Fitness]]:
        """Re-evaluate the top candidates by return (and the previous elite, index 0 after the
        first generation) on common extra episodes; the best mean is the elite. Returns the
        elite, its fitness, its returns on the extra episodes, and every extra result."""
        cfg, seed, g = self.config, self.experiment.run.seed, self.generation
        candidates = [int(i) for i in np.argsort(-returns, kind="stable")[: cfg.elite_candidates]]
        if g > 0 and 0 not in candidates:
            candidates.append(0)
        tasks = [
            EvalTask(
                k * cfg.elite_episodes + j, self.population[i], 1, derive_seed(seed, _ELITE, g, j)
            )
            for k, i in enumerate(candidates)
            for j in range(cfg.elite_episodes)
        ]
        extra = self.evaluate_tasks(tasks, stop)
        per_candidate = [
            [f.mean_return for f in extra[k * cfg.elite_episodes : (k + 1) * cfg.elite_episodes]]
            for k in range(len(candidates))
        ]
        best = int(np.argmax([float(np.mean(r)) for r in per_candidate]))
        index = candidates[best]
        return self.population[index], float(returns[index]), per_candidate[best], extra

    def _log(self, stats: Generation) -> None:
        """Update the counters and write the generation's scalars (x axis: frames)."""
        counters, run = self.session.counters, self.experiment.run
        self.generation += 1
        counters.step += stats.frames
        counters.episodes += stats.episodes
        counters.evaluations += stats.evaluations
        counters.wall_s += stats.seconds
        counters.history.append(
            {
                "generation": self.generation,
                "step": counters.step,
                "mean_return": stats.elite_return,
            }
        )
        if run.target_return is not None and stats.elite_return >= run.target_return:
            counters.reached_target = counters.step
        scalars = {
            "ga/max_fitness": float(stats.returns.max()),
            "ga/mean_fitness": float(stats.returns.mean()),
            "ga/elite_fitness": stats.elite_fitness,
            "ga/frames": float(counters.step),
            "ga/generation": float(self.generation),
            "ga/evaluations_per_second": stats.evaluations / max(stats.seconds, 1e-9),
            "ga/genome_length": float(len(stats.elite)),
            "ga/genome_bytes": float(stats.elite.nbytes),
            "eval/mean_return": stats.elite_return,
        }
        if self.config.novelty.mode != "off":
            scalars["ga/archive_size"] = float(len(self.archive))
            scalars["ga/mean_score"] = float(stats.scores.mean())
        assert self.session.logger is not None
        for tag, value in scalars.items():
            self.session.logger.writer.add_scalar(tag, value, counters.step)

    def state_dict(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "population": [genome.to_array() for genome in self.population],
            "population_rng": self.rng.bit_generator.state,
            "archive": self.archive.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generation = int(state["generation"])
        self.population = [Genome.from_array(array) for array in state["population"]]
        self.rng.bit_generator.state = state["population_rng"]
        self.archive.load_state_dict(state["archive"])
        if len(self.population) != self.config.population:
            raise RlkitError("a resumed GA run cannot change agent.population")

    def progress_keys(self) -> dict[str, float]:
        return {"generation": self.generation}

    def summary(self) -> dict[str, Any]:
        counters, elite = self.session.counters, self.agent.genome
        return {
            "reached_target_at": counters.reached_target,
            "evaluations": counters.history,
            "generations": self.generation,
            "fitness_evaluations": counters.evaluations,
            "elite_genome_length": len(elite),
            "elite_genome_bytes": elite.nbytes,
        }


def make_backend(config: GAConfig, experiment: dict[str, Any]) -> Backend:
    """The backend `config.backend` names, with `config.workers` workers (0: one per core)."""
    workers = config.workers or os.cpu_count() or 1
    if config.backend == "processes":
        return ProcessBackend(experiment, workers)
    if config.backend == "ray":
        from rlkit.agents.ga.ray import RayBackend  # an optional extra: imported when used

        return RayBackend(experiment, workers, config.ray_address)
    return SerialBackend(experiment)
