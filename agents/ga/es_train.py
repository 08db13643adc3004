"""The trainer of evolution strategies (OpenAI-ES, NS-ES, NSR-ES), beside the GA's.

Per iteration: pick the centre to update (ES: the only one; NS/NSR: one of the M by novelty or
by the novelty-reward rank mix, `rlkit.agents.ga.es`), evaluate its `pairs` antithetic
perturbations (both members of a pair on the same env seeds), shape their returns (ES), their
novelty against the archive and each other (NS) or both (NSR) into centred ranks, estimate the
gradient, step the centre with its Adam (weight decay included), then evaluate the updated
centre on `centre_episodes` episodes: that is the iteration's evaluation (best.pt, the target)
and, for NS/NSR, the behaviour that enters the archive. Before the first iteration NS/NSR
evaluate their M initial centres to seed the archive. NS/NSR with `elite` also re-evaluate the
iteration's perturbation of highest return on the same episodes; when it beats the updated
centre it is the iteration's evaluated policy, as the GA's elite is its best by return whatever
it selects on: the centres follow novelty, the run keeps the best policy it met.

How the centre travels: it is a real vector, so it goes to each worker once per evaluation
batch (`Backend.share`: with the first task a worker receives, or a Ray object reference),
followed by perturbations as seeds (a genome = centre index + (seed, +-sigma)). Rebuilding the
centre from seeds would need every worker to replay every past Adam update, drawing all 2n
noise vectors per iteration again; Salimans et al. broadcast the parameters too.

Randomness: perturbation seeds, env seeds and the centre choice derive from (seed, iteration),
so a resumed run and every backend give the uninterrupted serial run's result. The state
changes only once an iteration's evaluations are all done; every iteration is checkpointed.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np

from rlkit.agent import Agent
from rlkit.agents.ga.backends import Backend, EvalTask, Fitness, ProcessBackend, SerialBackend
from rlkit.agents.ga.es import (
    Adam,
    ascent_direction,
    es_gradient,
    selection_probabilities,
    shaped_fitness,
)
from rlkit.agents.ga.es_config import ESConfig
from rlkit.agents.ga.genome import Genome, add_mutation
from rlkit.agents.ga.novelty import NoveltyArchive, knn_novelty
from rlkit.agents.ga.rounds import RoundsLoop
from rlkit.envs.factory import env_spec
from rlkit.errors import RlkitError
from rlkit.seeding import derive_seed
from rlkit.training.logger import n_episodes
from rlkit.training.session import Session, StopFlag

if TYPE_CHECKING:
    from rlkit.agents.ga.es_agent import ESAgent

_NOISE, _PAIR_ENV, _CENTRE_ENV, _SELECT, _ARCHIVE = 31, 32, 33, 34, 35  # derive_seed tags


class SharingBackend(Backend, Protocol):
    """A GA backend that can also send data once to every worker (see backends.Shared)."""

    def share(self, payload: Any) -> None: ...


@dataclass(frozen=True)
class CentreEval:
    """Returns and mean behaviour of one centre's greedy episodes."""

    returns: list[float]
    behaviour: np.ndarray | None


@dataclass
class Iteration:
    """What one iteration measured and the state it leads to (committed at its end)."""

    chosen: int
    probabilities: np.ndarray
    returns: np.ndarray
    novelty: np.ndarray | None
    gradient_norm: float
    centre: np.ndarray
    optimiser: Adam
    evaluation: CentreEval
    reported: CentreEval
    """The iteration's evaluated policy's: the updated centre's, or the elite perturbation's."""
    policy: np.ndarray
    """That policy's parameters (what the agent acts with from now on)."""
    elite: bool
    """Whether the reported policy is the elite perturbation rather than the centre."""
    initial: list[CentreEval]
    results: list[Fitness]
    seconds: float = 0.0


class ESLoop(RoundsLoop):
    """Evolution strategies in the run session: one iteration per step, each checkpointed.
    The session's step counter counts frames (env steps x the Atari frame skip)."""

    noun = "iteration"
    setting = "agent.iterations"
    backend: SharingBackend | None = None

    def __init__(self, session: Session, backend: SharingBackend | None = None) -> None:
        super().__init__(session)
        self.config: ESConfig = self.experiment.agent
        self.backend = backend
        self.iteration = 0

    def make_agent(self) -> Agent[Any]:
        exp, cfg = self.experiment, self.config
        agent = self.session.build_agent(env_spec(exp.env, self.session.evaluation_envs()))
        self.agent = cast("ESAgent", agent)
        self.centres = [self.agent.initial_centre(m) for m in range(cfg.centres)]
        self.optimisers = [Adam(cfg.learning_rate, cfg.beta1, cfg.beta2) for _ in self.centres]
        self.centre_returns = np.zeros(cfg.centres)
        self.centre_behaviours: np.ndarray | None = None
        self.archive = NoveltyArchive(cfg.novelty, derive_seed(exp.run.seed, _ARCHIVE))
        if self.backend is None:
            self.backend = make_es_backend(cfg, exp.to_dict())
        return agent

    def rounds_limit(self) -> int | None:
        return self.config.iterations

    def rounds_done(self) -> int:
        return self.iteration

    def evaluation_plan(self) -> str:
        return (
            f"each updated centre evaluated on {n_episodes(self.config.centre_episodes)}, "
            "then a final greedy evaluation"
        )

    def train(self, stop: StopFlag) -> None:
        session = self.session
        while not self.finished():
            stats = self._iteration(stop)
            self._commit(stats)
            returns = stats.reported.returns
            label = f"centre {stats.chosen}" if self.config.centres > 1 else "centre"
            if stats.elite:
                label = f"elite (perturbation of {label})"
            session.evaluated(
                session.counters.step,
                float(np.mean(returns)),
                float(np.std(returns)),
                len(returns),
                where=f"iteration {self.iteration} ({session.counters.step:,} frames)",
                label=f"{label} eval",
            )
            session.save()
            session.bar.update(self.progress(), f"iter {self.iteration} {np.mean(returns):.3f}")
            if stop.requested:
                session.interrupt()

    def _evaluate(
        self, centres: list[np.ndarray], tasks: list[EvalTask], stop: StopFlag
    ) -> list[Fitness]:
        """Share `centres` with the workers, then evaluate `tasks` (genomes perturbing them)."""
        assert self.backend is not None
        self.backend.share(tuple(centres))
        return self.evaluate_tasks(tasks, stop)

    def _evaluate_centres(
        self, centres: list[np.ndarray], stop: StopFlag
    ) -> tuple[list[CentreEval], list[Fitness]]:
        """Each centre on the iteration's `centre_episodes` common env seeds, one task each."""
        cfg, seed, t = self.config, self.experiment.run.seed, self.iteration
        episodes = cfg.centre_episodes
        tasks = [
            EvalTask(k * episodes + j, Genome(k), 1, derive_seed(seed, _CENTRE_ENV, t, j))
            for k in range(len(centres))
            for j in range(episodes)
        ]
        results: list[Fitness] = self._evaluate(centres, tasks, stop)
        evals = []
        for k in range(len(centres)):
            mine = results[k * episodes : (k + 1) * episodes]
            found = [f.behaviour for f in mine if f.behaviour is not None]
            behaviour = np.mean(found, axis=0) if found else None
            evals.append(CentreEval([f.mean_return for f in mine], behaviour))
        return evals, results

    def _iteration(self, stop: StopFlag) -> Iteration:
        """Choose, perturb, estimate, step, evaluate; nothing of the loop's state changes."""
        cfg, seed, t = self.config, self.experiment.run.seed, self.iteration
        start = time.perf_counter()
        novel = cfg.mode != "es"
        initial: list[CentreEval] = []
        results: list[Fitness] = []
        returns_c, behaviours_c, archive = self._centre_view()
        if novel and t == 0:  # seed the archive with the M initial centres' behaviours
            initial, results = self._evaluate_centres(self.centres, stop)
            returns_c = np.array([float(np.mean(e.returns)) for e in initial])
            behaviours_c = np.stack([np.asarray(e.behaviour) for e in initial])
            archive = np.concatenate([archive, behaviours_c]) if len(archive) else behaviours_c
        novelty_c = np.zeros(cfg.centres)
        if behaviours_c is not None:
            novelty_c = knn_novelty(behaviours_c, archive, cfg.k, with_batch=False)
        probabilities = selection_probabilities(cfg.mode, novelty_c, returns_c, cfg.reward_weight)
        chosen = int(np.random.default_rng([derive_seed(seed, _SELECT), t]).choice(
            cfg.centres, p=probabilities
        ))  # fmt: skip
        centre = self.centres[chosen]
        sigma = float(np.float32(cfg.sigma))  # the precision a genome applies it in
        seeds = [derive_seed(seed, _NOISE, t, i) for i in range(cfg.pairs)]
        tasks = [
            EvalTask(2 * i + side, Genome(0).child(s, sign * sigma), cfg.episodes_per_eval, env)
            for i, s in enumerate(seeds)
            for side, sign in enumerate((1.0, -1.0))
            for env in [derive_seed(seed, _PAIR_ENV, t, i)]
        ]
        fitness: list[Fitness] = self._evaluate([centre], tasks, stop)
        returns = np.array([f.mean_return for f in fitness])
        novelty = None
        if novel:
            behaviours = np.stack([np.asarray(f.behaviour) for f in fitness])
            novelty = knn_novelty(behaviours, archive, cfg.k, with_batch=cfg.population_novelty)
        shaped = shaped_fitness(cfg.mode, returns, novelty, cfg.reward_weight)
        gradient = es_gradient(shaped[0::2], shaped[1::2], seeds, sigma, len(centre))
        optimiser = copy.deepcopy(self.optimisers[chosen])
        step = optimiser.step(ascent_direction(gradient, centre, cfg.l2))
        updated = (centre + step).astype(np.float32)
        candidates = [updated]
        if novel and cfg.elite:
            best = int(np.argmax(returns))
            candidates.append(perturbed(centre, seeds[best // 2], (sigma, -sigma)[best % 2]))
        evals, extra = self._evaluate_centres(candidates, stop)
        evaluation = reported = evals[0]
        if len(evals) > 1 and np.mean(evals[1].returns) > np.mean(evaluation.returns):
            reported = evals[1]
        return Iteration(
            chosen=chosen,
            probabilities=probabilities,
            returns=returns,
            novelty=novelty,
            gradient_norm=float(np.linalg.norm(gradient)),
            centre=updated,
            optimiser=optimiser,
            evaluation=evaluation,
            reported=reported,
            policy=candidates[evals.index(reported)],
            elite=reported is not evaluation,
            initial=initial,
            results=[*results, *fitness, *extra],
            seconds=time.perf_counter() - start,
        )

    def _centre_view(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Copies of the centres' last returns and behaviours, and the archive's behaviours."""
        behaviours = None if self.centre_behaviours is None else self.centre_behaviours.copy()
        return self.centre_returns.copy(), behaviours, self.archive.behaviours

    def _commit(self, stats: Iteration) -> None:
        """The iteration's new state, counters and scalars (x axis: frames)."""
        m, evaluation = stats.chosen, stats.evaluation
        if stats.initial:
            self.centre_returns = np.array([float(np.mean(e.returns)) for e in stats.initial])
            self.centre_behaviours = np.stack([np.asarray(e.behaviour) for e in stats.initial])
            self.archive.update(self.centre_behaviours)
        self.centres[m] = stats.centre
        self.optimisers[m] = stats.optimiser
        self.centre_returns[m] = float(np.mean(evaluation.returns))
        if evaluation.behaviour is not None and self.centre_behaviours is not None:
            self.centre_behaviours[m] = evaluation.behaviour
            self.archive.update(evaluation.behaviour[None, :])
        self.agent.set_centre(stats.policy)
        self.iteration += 1
        self._count(stats)

    def _count(self, stats: Iteration) -> None:
        """Counters, history, the target, and the iteration's scalars."""
        counters, run = self.session.counters, self.experiment.run
        mean_return = float(np.mean(stats.reported.returns))
        counters.step += sum(f.frames for f in stats.results)
        counters.episodes += sum(len(f.returns) for f in stats.results)
        counters.evaluations += len(stats.results)
        counters.wall_s += stats.seconds
        counters.history.append(
            {
                "iteration": self.iteration,
                "step": counters.step,
                "mean_return": mean_return,
                "centre": stats.chosen,
                "elite": stats.elite,
            }
        )
        if run.target_return is not None and mean_return >= run.target_return:
            counters.reached_target = counters.step
        scalars = {
            "es/max_fitness": float(stats.returns.max()),
            "es/mean_fitness": float(stats.returns.mean()),
            "es/gradient_norm": stats.gradient_norm,
            "es/centre_return": float(np.mean(stats.evaluation.returns)),
            "es/elite": float(stats.elite),
            "es/iteration": float(self.iteration),
            "es/chosen_centre": float(stats.chosen),
            "es/evaluations_per_second": len(stats.results) / max(stats.seconds, 1e-9),
            "eval/mean_return": mean_return,
        }
        if stats.novelty is not None:
            scalars["es/archive_size"] = float(len(self.archive))
            scalars["es/mean_novelty"] = float(stats.novelty.mean())
        assert self.session.logger is not None
        for tag, value in scalars.items():
            self.session.logger.writer.add_scalar(tag, value, counters.step)

    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "centres": [c.copy() for c in self.centres],
            "optimisers": [o.state_dict() for o in self.optimisers],
            "centre_returns": self.centre_returns.copy(),
            "centre_behaviours": self.centre_behaviours,
            "archive": self.archive.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["centres"]) != len(self.centres):
            raise RlkitError("a resumed ES run cannot change agent.mode or agent.meta_population")
        self.iteration = int(state["iteration"])
        self.centres = [np.asarray(c, dtype=np.float32) for c in state["centres"]]
        for optimiser, saved in zip(self.optimisers, state["optimisers"], strict=True):
            optimiser.load_state_dict(saved)
        self.centre_returns = np.asarray(state["centre_returns"], dtype=np.float64)
        self.centre_behaviours = state["centre_behaviours"]
        self.archive.load_state_dict(state["archive"])

    def progress_keys(self) -> dict[str, float]:
        return {"iteration": self.iteration}

    def summary(self) -> dict[str, Any]:
        counters = self.session.counters
        return {
            "reached_target_at": counters.reached_target,
            "evaluations": counters.history,
            "iterations": self.iteration,
            "fitness_evaluations": counters.evaluations,
            "centre_returns": [float(r) for r in self.centre_returns],
            "archive_size": len(self.archive),
        }


def perturbed(centre: np.ndarray, seed: int, sigma: float) -> np.ndarray:
    """centre + sigma * eps(seed): the very vector a worker plays for that perturbation."""
    vector = centre.copy()
    add_mutation(vector, seed, sigma, np.empty_like(vector))
    return vector


def make_es_backend(config: ESConfig, experiment: dict[str, Any]) -> SharingBackend:
    """The backend `config.backend` names, with `config.workers` workers (0: one per core)."""
    workers = config.workers or os.cpu_count() or 1
    if config.backend == "processes":
        return ProcessBackend(experiment, workers)
    if config.backend == "ray":
        from rlkit.agents.ga.es_ray import SharingRayBackend  # an optional extra

        return SharingRayBackend(experiment, workers, config.ray_address)
    return SerialBackend(experiment)
