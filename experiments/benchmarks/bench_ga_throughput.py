"""Deep GA evaluation throughput: genome evaluations per second with 1, 2, ... worker processes.

The same batch of tasks (children of a few parents, as in a generation; episodes of the
cartpole_ga experiment's network, cut at --max-steps steps,
--episodes per evaluation) goes through the serial backend and
the processes backend with each worker count; workers are started (and build their env and
network) before the clock starts. Prints evaluations/s and the scaling efficiency
(evals/s with W workers) / (W x evals/s with 1 worker); the target is >= 80%.

    python experiments/benchmarks/bench_ga_throughput.py --workers 1 2
    python experiments/benchmarks/bench_ga_throughput.py --workers 1 2 4 8 16 --tasks 800
    python experiments/benchmarks/bench_ga_throughput.py --experiment frostbite_ga --tasks 64
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from rlkit.agents.ga.backends import Backend, EvalTask, ProcessBackend, SerialBackend
from rlkit.agents.ga.genome import Genome
from rlkit.experiment import load_experiment


def make_tasks(count: int, sigma: float, episodes: int) -> list[EvalTask]:
    rng = np.random.default_rng(0)
    parents = [Genome(int(rng.integers(2**32))) for _ in range(10)]
    return [
        EvalTask(i, parents[i % 10].child(int(rng.integers(2**32)), sigma), episodes, 1_000 + i)
        for i in range(count)
    ]


def timed(backend: Backend, tasks: list[EvalTask]) -> tuple[float, int]:
    backend.evaluate(tasks[:8], lambda: None)  # warm up: imports, caches, first forward pass
    start = time.perf_counter()
    results = backend.evaluate(tasks, lambda: None)
    return time.perf_counter() - start, sum(r.frames for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="cartpole_ga")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=5, help="episodes per evaluation")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = [f"env.max_episode_steps={args.max_steps}"]
    exp = load_experiment(args.experiment, overrides)
    spec = exp.to_dict()
    tasks = make_tasks(args.tasks, exp.agent.sigma, args.episodes)
    serial = SerialBackend(spec)
    seconds, frames = timed(serial, tasks)
    serial.close()
    print(f"serial: {args.tasks / seconds:8.1f} evals/s ({frames / seconds:,.0f} frames/s)")
    base = None
    for workers in args.workers:
        backend = ProcessBackend(spec, workers)
        try:
            seconds, frames = timed(backend, tasks)
        finally:
            backend.close()
        rate = args.tasks / seconds
        base = base or rate / workers
        print(
            f"{workers:2d} workers: {rate:8.1f} evals/s ({frames / seconds:,.0f} frames/s), "
            f"scaling efficiency {rate / (base * workers):.0%} of linear"
        )


if __name__ == "__main__":
    main()
