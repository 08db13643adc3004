"""The Ray backend of the Deep GA: evaluator actors on a local Ray instance or a cluster.

Ray is an optional extra (`pip install rlkit[ray]`), imported only when backend = "ray".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rlkit.agents.ga.backends import Dispatcher, EvalTask, Fitness, GenomeEvaluator, Poll
from rlkit.ray_cluster import import_ray, init_ray


class RayEvaluator:
    """The body of a Ray actor: one evaluator, built once."""

    def __init__(self, experiment: dict[str, Any]) -> None:
        torch.set_num_threads(1)
        self.evaluator = GenomeEvaluator(experiment)

    def evaluate(self, task: EvalTask) -> Fitness:
        return self.evaluator.evaluate(task)


class RayBackend:
    """One evaluator actor per worker; a dead actor's task is retried on a fresh actor."""

    def __init__(self, experiment: dict[str, Any], workers: int, address: str | None) -> None:
        self.ray = import_ray()
        self.owns_ray = init_ray(address, workers)  # else join the caller's instance, leave it up
        self.experiment = experiment
        self.remote_class = self.ray.remote(num_cpus=1)(RayEvaluator)
        self.actors = [self._start() for _ in range(workers)]

    def _start(self) -> Any:
        return self.remote_class.remote(self.experiment)

    def evaluate(self, tasks: Sequence[EvalTask], poll: Poll) -> list[Fitness]:
        ray, queue = self.ray, Dispatcher(tasks)
        running: dict[Any, tuple[int, EvalTask]] = {}
        idle = list(range(len(self.actors)))
        while queue.pending or running:
            while idle and queue.pending:
                slot, task = idle.pop(), queue.pending.popleft()
                running[self.actors[slot].evaluate.remote(task)] = (slot, task)
            [ref], _ = ray.wait(list(running), num_returns=1)
            slot, task = running.pop(ref)
            idle.append(slot)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                ray.kill(self.actors[slot], no_restart=True)
                self.actors[slot] = self._start()
                queue.retry(task, f"Ray actor died ({type(exc).__name__})")
                continue
            queue.results[result.index] = result
            poll()
        return queue.ordered()

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        if self.owns_ray:
            self.ray.shutdown()
