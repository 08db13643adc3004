"""The Ray backend for evolution strategies: the GA's RayBackend plus shared centres.

Each iteration's centres are put in Ray's object store once and handed to every actor (an
actor runs its calls in order, so they arrive before its next evaluations); an actor started
to replace a dead one receives them first. Ray is an optional extra, imported when used.
"""

from __future__ import annotations

from typing import Any

from rlkit.agents.ga.ray import RayBackend, RayEvaluator


class SharingRayEvaluator(RayEvaluator):
    """A Ray actor's body that also keeps shared data (ES: the centres)."""

    def share(self, payload: Any) -> None:
        self.evaluator.share(payload)


class SharingRayBackend(RayBackend):
    """RayBackend whose actors receive `share`d data once per batch, by object reference."""

    def __init__(self, experiment: dict[str, Any], workers: int, address: str | None) -> None:
        self.shared: Any = None
        self.sharing_class: Any = None
        super().__init__(experiment, workers, address)

    def _start(self) -> Any:
        if self.sharing_class is None:
            self.sharing_class = self.ray.remote(num_cpus=1)(SharingRayEvaluator)
        actor = self.sharing_class.remote(self.experiment)
        if self.shared is not None:
            actor.share.remote(self.shared)
        return actor

    def share(self, payload: Any) -> None:
        """What the next tasks' genomes refer to: one object, a reference to each actor."""
        self.shared = self.ray.put(payload)
        for actor in self.actors:
            actor.share.remote(self.shared)
