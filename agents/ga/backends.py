"""Fitness evaluation for the Deep GA: one evaluator, run serially, on processes or on Ray.

Every backend receives genomes (a few bytes each), never weights; each worker builds its env
and network once and rebuilds networks through its own parent cache. A task's result depends
only on (genome, episodes, seed), so every backend returns the same numbers.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection
import signal
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import torch
from gymnasium.vector import SyncVectorEnv

from rlkit.agent import build_agent
from rlkit.agents.ga.batch import GenomePolicy, evaluate_batch
from rlkit.agents.ga.config import GAConfig
from rlkit.agents.ga.genome import Genome
from rlkit.agents.ga.novelty import behaviour_function
from rlkit.envs.atari import AtariOptions, is_atari_id
from rlkit.envs.factory import EnvConfig, env_spec, make_env, make_vector_env
from rlkit.errors import RlkitError
from rlkit.experiment import load_experiment
from rlkit.rollout import RolloutState, rollout

MAX_RETRIES = 3
BATCH_SLOTS = 32
"""Sub-envs of the serial backend's batched evaluation (rlkit.agents.ga.batch)."""
Poll = Callable[[], None]


@dataclass(frozen=True)
class EvalTask:
    """Play `episodes` greedy episodes of `genome`'s network on envs reset with `seed`."""

    index: int
    genome: Genome
    episodes: int
    seed: int


@dataclass(frozen=True)
class Shared:
    """Data every worker keeps until the next Shared, sent to each worker once and not with
    every task: evolution strategies' centres, which their tasks' genomes perturb by seed."""

    version: int
    payload: Any


class SharingPolicy(GenomePolicy, Protocol):
    """A GenomePolicy whose genomes refer to shared data (ES: index of a centre + perturbation)."""

    def share(self, payload: Any) -> None: ...


@dataclass(frozen=True)
class Fitness:
    """What one task measured."""

    index: int
    mean_return: float
    returns: tuple[float, ...]
    frames: int
    """Env steps taken x frame_skip (Atari) or x 1."""
    behaviour: np.ndarray | None
    """Mean behaviour vector of the episodes (None when novelty search is off)."""


def frame_skip(env: EnvConfig) -> int:
    """Emulator frames per env step: the Atari frame_skip, 1 elsewhere."""
    return int(env.kwargs.get("frame_skip", AtariOptions.frame_skip)) if is_atari_id(env.id) else 1


class GenomeEvaluator:
    """A worker's env and network: plays tasks through the shared rollout loop."""

    def __init__(self, experiment: dict[str, Any]) -> None:
        exp = load_experiment(experiment)
        config: GAConfig = exp.agent
        self.envs = make_vector_env(exp.env, training=False)  # true scores, whole games
        if isinstance(self.envs, SyncVectorEnv):
            # no copy of every observation: the policy reads each one before the next step
            # overwrites it, and finished episodes' final observations are copied by rollout
            self.envs.copy = False
        spec = env_spec(exp.env, self.envs)
        agent = build_agent(exp.agent_name, config, spec, exp.run.seed)
        self.agent = cast(GenomePolicy, agent)
        self.frame_skip = frame_skip(exp.env)
        self.env_config = exp.env
        self.batch_envs: SyncVectorEnv | None = None
        self.behaviour: Callable[[np.ndarray], np.ndarray] | None = None
        if config.novelty.mode != "off":
            probe = make_env(exp.env)
            try:
                self.behaviour = behaviour_function(config.novelty, probe)
            finally:
                probe.close()

    def share(self, payload: Any) -> None:
        """Hand a Shared's payload to the agent (only agents whose genomes refer to it)."""
        cast(SharingPolicy, self.agent).share(payload)

    def evaluate(self, task: EvalTask) -> Fitness:
        """Sub-env i plays (episodes + i) // num_envs episodes, as rlkit.evaluation does."""
        self.agent.set_genome(task.genome)
        n = self.envs.num_envs
        quota = np.array([(task.episodes + i) // n for i in range(n)])
        done = np.zeros(n, dtype=np.int64)
        returns: list[float] = []
        behaviours: list[np.ndarray] = []
        steps = 0
        state = RolloutState.reset(self.envs, task.seed)
        for transition, finished in rollout(self.envs, self.agent, state, explore=False):
            steps += n
            for ep in finished:
                if done[ep.env_index] < quota[ep.env_index]:
                    done[ep.env_index] += 1
                    returns.append(ep.episode_return)
                    if self.behaviour is not None:
                        behaviours.append(self.behaviour(transition.next_obs[ep.env_index]))
            if (done >= quota).all():
                break
        return self._fitness(task, returns, behaviours, steps)

    def _fitness(
        self, task: EvalTask, returns: list[float], behaviours: list[np.ndarray], steps: int
    ) -> Fitness:
        """A task's result from its episodes' returns and behaviours and its env steps."""
        behaviour = np.mean(behaviours, axis=0) if behaviours else None
        return Fitness(
            task.index, float(np.mean(returns)), tuple(returns), steps * self.frame_skip, behaviour
        )

    def evaluate_many(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]:
        """Every task's fitness; MLP policies on one-env configs play many tasks at once."""
        if not self._can_batch() or len(tasks) < 2:
            results = []
            for task in tasks:
                results.append(self.evaluate(task))
                poll()
            return results
        if self.batch_envs is None:
            envs = make_vector_env(self.env_config, BATCH_SLOTS, training=False)
            assert isinstance(envs, SyncVectorEnv)
            envs.copy = False
            self.batch_envs = envs
        found: dict[int, Fitness] = {}

        def done(task: EvalTask, slot: Any) -> None:
            found[task.index] = self._fitness(task, slot.returns, slot.behaviours, slot.steps)
            poll()

        evaluate_batch(self.batch_envs, self.agent, tasks, self.behaviour, done)
        return [found[task.index] for task in tasks]

    def _can_batch(self) -> bool:
        return (
            self.agent.layers is not None
            and self.env_config.num_envs == 1
            and isinstance(self.envs, SyncVectorEnv)
        )

    def close(self) -> None:
        self.envs.close()
        if self.batch_envs is not None:
            self.batch_envs.close()


class Backend(Protocol):
    """Evaluates a batch of tasks; results in task order. `poll` runs after each result."""

    def evaluate(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]: ...

    def close(self) -> None: ...


class SerialBackend:
    """Evaluates in this process."""

    def __init__(self, experiment: dict[str, Any]) -> None:
        self.evaluator = GenomeEvaluator(experiment)

    def evaluate(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]:
        return self.evaluator.evaluate_many(tasks, poll)

    def share(self, payload: Any) -> None:
        """What the next tasks' genomes refer to (see Shared)."""
        self.evaluator.share(payload)

    def close(self) -> None:
        self.evaluator.close()


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"rlkit: warning: {message}", file=sys.stderr, flush=True)


class Dispatcher:
    """Tasks in, results out; a task whose worker died goes back to the queue (a few times)."""

    def __init__(self, tasks: Sequence[EvalTask]) -> None:
        self.pending = deque(tasks)
        self.results: dict[int, Fitness] = {}
        self.crashes: dict[int, int] = {}
        self.order = [task.index for task in tasks]

    def retry(self, task: EvalTask, what: str) -> None:
        """Requeue `task` after its worker died; give up after MAX_RETRIES deaths."""
        count = self.crashes[task.index] = self.crashes.get(task.index, 0) + 1
        if count >= MAX_RETRIES:
            raise RlkitError(
                f"genome {task.index} killed {count} GA workers in a row ({what}); giving up"
            )
        warn(f"{what} while evaluating genome {task.index}; retrying it on a fresh worker")
        self.pending.appendleft(task)

    def ordered(self) -> list[Fitness]:
        return [self.results[i] for i in self.order]


def _worker_main(conn: multiprocessing.connection.Connection, experiment: dict[str, Any]) -> None:
    """A worker process: build the evaluator once, then answer tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the trainer handles Ctrl-C and stops us
    torch.set_num_threads(1)
    evaluator = GenomeEvaluator(experiment)
    while True:
        task = conn.recv()
        if task is None:
            break
        if isinstance(task, Shared):
            evaluator.share(task.payload)
            continue
        try:
            conn.send(evaluator.evaluate(task))
        except Exception as exc:
            conn.send(exc)
    evaluator.close()


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    task: EvalTask | None = None
    shared_version: int = -1
    """The version of the Shared this worker holds (-1: none)."""


class ProcessBackend:
    """Local worker processes (forkserver), one task at a time each, dead workers replaced."""

    def __init__(self, experiment: dict[str, Any], workers: int) -> None:
        self.experiment = experiment
        methods = mp.get_all_start_methods()
        self.context: Any = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.workers = [self._start() for _ in range(workers)]
        self.shared: Shared | None = None

    def share(self, payload: Any) -> None:
        """What the next tasks' genomes refer to: sent to each worker with its first task."""
        version = 0 if self.shared is None else self.shared.version + 1
        self.shared = Shared(version, payload)

    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=_worker_main, args=(child, self.experiment), daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def evaluate(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]:
        queue = Dispatcher(tasks)
        while queue.pending or any(w.task is not None for w in self.workers):
            for worker in self.workers:
                if worker.task is None and queue.pending:
                    worker.task = queue.pending.popleft()
                    self._send(worker, queue)
            busy = [w for w in self.workers if w.task is not None]
            multiprocessing.connection.wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy]
            )
            for worker in busy:
                if self._collect(worker, queue):
                    poll()
        return queue.ordered()

    def _send(self, worker: _Worker, queue: Dispatcher) -> None:
        try:
            self._deliver(worker)
        except OSError:  # died while idle: replace it, the task stays with the new worker
            self._replace(worker, queue, requeue=False)
            self._deliver(worker)

    def _deliver(self, worker: _Worker) -> None:
        """Send the worker's task, preceded by the shared data it does not hold yet."""
        if self.shared is not None and worker.shared_version != self.shared.version:
            worker.conn.send(self.shared)
            worker.shared_version = self.shared.version
        worker.conn.send(worker.task)

    def _collect(self, worker: _Worker, queue: Dispatcher) -> bool:
        """Take a finished result from `worker`; handle its death. True if a result came."""
        message: Fitness | BaseException | None = None
        try:
            if worker.conn.poll():
                message = worker.conn.recv()
        except (EOFError, OSError):  # the worker died: its pipe is closed
            pass
        if isinstance(message, BaseException):  # the evaluation itself failed: not retried
            raise message
        if message is not None:
            queue.results[message.index] = message
            worker.task = None
            return True
        if worker.process.is_alive():
            return False
        self._replace(worker, queue, requeue=True)
        return False

    def _replace(self, worker: _Worker, queue: Dispatcher, requeue: bool) -> None:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        task = worker.task
        fresh = self._start()
        worker.process, worker.conn = fresh.process, fresh.conn
        worker.shared_version = -1
        if requeue and task is not None:
            worker.task = None
            queue.retry(task, f"GA worker process died (exit code {code})")
        elif task is not None:
            warn(f"GA worker process died (exit code {code}) while idle; started a fresh one")

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.conn.close()
