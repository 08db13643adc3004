"""The Ray backend of the Deep GA: evaluator actors on a local Ray instance or a cluster.

Ray is an optional extra (`pip install rlkit[ray]`), imported only when backend = "ray".
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any

import torch

from rlkit.agents.ga.backends import Dispatcher, EvalTask, Fitness, GenomeEvaluator, Poll
from rlkit.errors import ConfigError

CONNECT_TIMEOUT_S = 3.0
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
"""An HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers with its own."""


def import_ray() -> Any:
    """The ray module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            'agent.backend: "ray" needs the ray package; install it with '
            '`pip install rlkit[ray]` (or use backend = "processes")'
        ) from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, naming the address, when nothing listens there (ray.init would wait long)."""
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(
            f"agent.ray_address: {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379 or "
            'ray://10.0.0.5:10001), "auto", or unset for a local Ray instance'
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as conn:
            # Ray speaks gRPC: a listener that ignores an HTTP/2 preface would make ray.init
            # wait for minutes; any reply (or a closed connection) is left to ray.init
            conn.sendall(_HTTP2_PREFACE)
            conn.recv(1)
    except OSError as exc:
        raise ConfigError(
            f"agent.ray_address: no Ray cluster answers at {address} ({exc.strerror or exc}, "
            f"after at most {timeout:.0f} s); start one with `ray start --head` there, or "
            "leave ray_address unset for a local instance"
        ) from None


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
        self.ray = ray = import_ray()
        if address is not None:
            check_reachable(address)
        self.owns_ray = not ray.is_initialized()  # else join the caller's instance, leave it up
        if self.owns_ray:
            try:
                ray.init(
                    address=address,
                    num_cpus=None if address else workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            except ConnectionError as exc:  # something listens there, but not Ray's GCS
                if address is None:
                    raise
                raise ConfigError(
                    f"agent.ray_address: {address} answers but is not a Ray cluster ({exc}); "
                    "give the head node's GCS address (ray start --head prints it)"
                ) from None
        self.experiment = experiment
        self.remote_class = ray.remote(num_cpus=1)(RayEvaluator)
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
