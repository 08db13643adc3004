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

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rlkit import checkpoint
from rlkit.agents.ga import GAAgent, GAConfig
from rlkit.config import dumps_toml
from rlkit.envs.factory import env_spec, make_vector_env
from rlkit.errors import RlkitError
from rlkit.evaluation import EvalResult, evaluate
from rlkit.experiment import Experiment
from rlkit.ga_backends import Backend, EvalTask, Fitness, make_backend
from rlkit.genome import SEED_LIMIT, Genome
from rlkit.logger import ProgressBar, RunLogger
from rlkit.novelty import NoveltyArchive
from rlkit.runner import (
    StopFlag,
    TrainingInterrupted,
    build_agent,
    configure_torch,
    derive_seed,
    stop_on_signal,
    write_atomic,
    write_summary,
)

_POPULATION, _FITNESS, _ELITE, _ARCHIVE = 20, 21, 22, 23  # derive_seed tags


class _Stopped(Exception):  # noqa: N818 - control flow: Ctrl-C during a generation
    """Raised from a backend's poll when a stop was requested."""


@dataclass
class GACounters:
    """Progress of a GA run, saved in every checkpoint."""

    generation: int = 0
    frames: int = 0
    episodes: int = 0
    evaluations: int = 0
    wall_s: float = 0.0
    reached_target: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Generation:
    """What one generation measured."""

    returns: np.ndarray
    scores: np.ndarray
    elite: Genome
    elite_fitness: float
    elite_return: float
    frames: int
    episodes: int
    evaluations: int
    seconds: float


def train_run(
    experiment: Experiment, run_dir: Path, state: dict[str, Any] | None
) -> dict[str, Any]:
    """The GA agent's training loop (Agent.training_loop): train or resume into `run_dir`."""
    with GATrainer(experiment, run_dir, state) as trainer:
        if state is not None and trainer.finished():
            raise RlkitError(
                f"run {run_dir} already finished its budget (generation "
                f"{trainer.counters.generation}, {trainer.counters.frames} frames); extend it "
                "with --set agent.generations=<more> or --set run.total_steps=<more frames>"
            )
        run_dir.mkdir(parents=True, exist_ok=True)
        toml_text = dumps_toml(experiment.to_dict())
        write_atomic(run_dir / "config.toml", toml_text)
        return trainer.run(toml_text if state is None else None)


class GATrainer:
    """One GA training session over a run directory (fresh, or restored from a checkpoint)."""

    def __init__(
        self,
        experiment: Experiment,
        run_dir: Path,
        state: dict[str, Any] | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.exp, self.run_dir, self.resumed = experiment, run_dir, state is not None
        self.config: GAConfig = experiment.agent
        run = experiment.run
        configure_torch(run)
        self.eval_envs = make_vector_env(experiment.env, run.eval_num_envs, training=False)
        self.backend: Backend | None = None
        try:
            agent = build_agent(experiment, env_spec(experiment.env, self.eval_envs), run.seed)
            assert isinstance(agent, GAAgent)
            self.agent = agent
            self.rng = np.random.default_rng(derive_seed(run.seed, _POPULATION))
            self.population = [Genome(self._seed()) for _ in range(self.config.population)]
            self.archive = NoveltyArchive(self.config.novelty, derive_seed(run.seed, _ARCHIVE))
            self.counters = GACounters()
            if state is not None:
                self._restore(state)
            self.backend = backend or make_backend(self.config, experiment.to_dict())
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> GATrainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.eval_envs.close()
        if self.backend is not None:
            self.backend.close()
            self.backend = None

    def finished(self) -> bool:
        """True once the budget (generations, else run.total_steps frames) or target is met."""
        c = self.counters
        if c.reached_target is not None:
            return True
        if self.config.generations is not None:
            return c.generation >= self.config.generations
        return c.frames >= self.exp.run.total_steps

    def run(self, toml_text: str | None) -> dict[str, Any]:
        """Evolve to the budget, then evaluate the elite, checkpoint and write summary.json."""
        c = self.counters
        logger = RunLogger(self.run_dir, purge_step=c.frames if self.resumed else None)
        budget = self.config.generations or self.exp.run.total_steps
        bar = ProgressBar(budget, self.exp.run.progress)
        if toml_text is not None:
            logger.config(toml_text)
        try:
            with stop_on_signal() as stop:
                while not self.finished():
                    stats = self._generation(stop)
                    self._log(logger, stats)
                    self._save()
                    done = c.generation if self.config.generations else c.frames
                    bar.update(done, f"gen {c.generation} elite {stats.elite_return:.3f}")
                    if stop.requested:
                        raise TrainingInterrupted(self.run_dir, c.frames, self._save())
            result = self._final_evaluation()
            logger.evaluation(result.mean_return, result.std_return, c.frames)
        finally:
            bar.close()
            logger.close()
        return self._write_summary(result)

    def _seed(self) -> int:
        return int(self.rng.integers(0, SEED_LIMIT))

    def _poll(self, stop: StopFlag) -> None:
        if stop.requested:
            raise _Stopped

    def _evaluate(self, tasks: list[EvalTask], stop: StopFlag) -> list[Fitness]:
        assert self.backend is not None
        try:
            return self.backend.evaluate(tasks, lambda: self._poll(stop))
        except _Stopped:  # the state is still that of the generation's start: save it
            raise TrainingInterrupted(self.run_dir, self.counters.frames, self._save()) from None

    def _generation(self, stop: StopFlag) -> Generation:
        """Evaluate, select, pick the elite, breed; the trainer's state changes only at the end."""
        cfg, seed, g = self.config, self.exp.run.seed, self.counters.generation
        start = time.perf_counter()
        tasks = [
            EvalTask(i, genome, cfg.episodes_per_eval, derive_seed(seed, _FITNESS, g, i))
            for i, genome in enumerate(self.population)
        ]
        fitness = self._evaluate(tasks, stop)
        returns = np.array([f.mean_return for f in fitness])
        behaviours = None
        if cfg.novelty.mode != "off":
            behaviours = np.stack([np.asarray(f.behaviour) for f in fitness])
        scores = self.archive.selection_scores(
            behaviours if behaviours is not None else np.zeros((len(returns), 1)), returns
        )
        parents = [self.population[i] for i in np.argsort(-scores, kind="stable")[: cfg.truncation]]
        elite, elite_fitness, elite_return, extra = self._select_elite(returns, stop)
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
            elite_return=elite_return,
            frames=sum(f.frames for f in all_results),
            episodes=sum(len(f.returns) for f in all_results),
            evaluations=len(all_results),
            seconds=time.perf_counter() - start,
        )

    def _select_elite(
        self, returns: np.ndarray, stop: StopFlag
    ) -> tuple[Genome, float, float, list[Fitness]]:
        """Re-evaluate the top candidates by return (and the previous elite, index 0 after the
        first generation) on common extra episodes; the best mean is the elite."""
        cfg, seed, g = self.config, self.exp.run.seed, self.counters.generation
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
        extra = self._evaluate(tasks, stop)
        means = [
            float(
                np.mean(
                    [
                        f.mean_return
                        for f in extra[k * cfg.elite_episodes : (k + 1) * cfg.elite_episodes]
                    ]
                )
            )
            for k in range(len(candidates))
        ]
        best = int(np.argmax(means))
        index = candidates[best]
        return self.population[index], float(returns[index]), means[best], extra

    def _log(self, logger: RunLogger, stats: Generation) -> None:
        """Update the counters and write the generation's scalars (x axis: frames)."""
        c, run = self.counters, self.exp.run
        c.generation += 1
        c.frames += stats.frames
        c.episodes += stats.episodes
        c.evaluations += stats.evaluations
        c.wall_s += stats.seconds
        c.history.append(
            {"generation": c.generation, "step": c.frames, "mean_return": stats.elite_return}
        )
        if run.target_return is not None and stats.elite_return >= run.target_return:
            c.reached_target = c.frames
        scalars = {
            "ga/max_fitness": float(stats.returns.max()),
            "ga/mean_fitness": float(stats.returns.mean()),
            "ga/elite_fitness": stats.elite_fitness,
            "ga/frames": float(c.frames),
            "ga/generation": float(c.generation),
            "ga/evaluations_per_second": stats.evaluations / max(stats.seconds, 1e-9),
            "ga/genome_length": float(len(stats.elite)),
            "ga/genome_bytes": float(stats.elite.nbytes),
            "eval/mean_return": stats.elite_return,
        }
        if self.config.novelty.mode != "off":
            scalars["ga/archive_size"] = float(len(self.archive))
            scalars["ga/mean_score"] = float(stats.scores.mean())
        for tag, value in scalars.items():
            logger.writer.add_scalar(tag, value, c.frames)

    def _final_evaluation(self) -> EvalResult:
        """The runner's final evaluation (same seed), so `rlkit eval RUN_DIR` reproduces it."""
        run = self.exp.run
        episodes = run.final_eval_episodes or run.eval_episodes
        return evaluate(self.agent, self.eval_envs, episodes, derive_seed(run.seed, 1, 0))

    def _save(self) -> Path:
        path = checkpoint.checkpoint_path(self.run_dir, self.counters.frames)
        checkpoint.save(
            path,
            {
                "config": self.exp.to_dict(),
                "agent": self.agent.state_dict(),
                "counters": asdict(self.counters),
                "population": [genome.to_array() for genome in self.population],
                "population_rng": self.rng.bit_generator.state,
                "archive": self.archive.state_dict(),
            },
        )
        checkpoint.prune(self.run_dir, self.exp.run.keep_checkpoints)
        return path

    def _restore(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.counters = GACounters(**state["counters"])
        self.population = [Genome.from_array(array) for array in state["population"]]
        self.rng.bit_generator.state = state["population_rng"]
        self.archive.load_state_dict(state["archive"])
        if len(self.population) != self.config.population:
            raise RlkitError("a resumed GA run cannot change agent.population")

    def _write_summary(self, result: EvalResult) -> dict[str, Any]:
        c = self.counters
        elite = self.agent.genome
        return write_summary(
            self.run_dir,
            self.exp,
            result,
            steps=c.frames,
            episodes=c.episodes,
            wall_s=c.wall_s,
            reached_target_at=c.reached_target,
            evaluations=c.history,
            generations=c.generation,
            fitness_evaluations=c.evaluations,
            elite_genome_length=len(elite),
            elite_genome_bytes=elite.nbytes,
        )
