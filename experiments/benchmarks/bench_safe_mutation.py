"""Safe mutations (SM-G-SUM) vs plain Gaussian mutation: how often a child's fitness collapses.

On the deceptive maze (rlkit/DeceptiveMaze-v0, maze_ga.toml's env) with a deep MLP (default 17
tanh layers of 256 units, 1.06M parameters), --evolve generations of a plain GA (population
--candidates, truncation --parents, sigma --evolve-sigma, "off") breed parents from random
initial genomes (--evolve 0: the random genomes themselves). The --parents best are each given
--children children at every --sigmas value, once with agent.safe_mutation = "off" and once
with "sum" (the same child genomes: same seeds, same sigma, so the same expected step size;
only SM-G's per-parameter factors differ). A child collapses when its fitness is below half its
parent's. Prints, per sigma and mode, the fraction of collapsed children, its spread over
parents (std and range of the per-parent fractions), the fractions whose fitness changed at all
and that improved on their parent, and the mean child/parent fitness ratio; then the decode
cost of SM-G (one sensitivity computation per parent per worker) for this net, where SM-G puts
its step (each layer's share), and, with --cnn, the cost for the GA's Nature CNN on Atari
frames (1.7M parameters, 18 outputs).

    python experiments/benchmarks/bench_safe_mutation.py
    python experiments/benchmarks/bench_safe_mutation.py --sigmas 0.05 --hidden 256 256 --cnn
"""

from __future__ import annotations

import argparse
import itertools
import time
import tomllib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlkit.agent import EnvSpec
from rlkit.agents.ga import GAAgent, GAConfig
from rlkit.agents.ga.backends import EvalTask, GenomeEvaluator
from rlkit.agents.ga.genome import Genome
from rlkit.agents.ga.safe_mutation import SafeMutation
from rlkit.experiment import load_experiment

MAZE = Path(__file__).resolve().parents[1] / "maze_ga.toml"


def experiment(hidden: list[int], mode: str, batch: int, floor: float) -> dict[str, Any]:
    """maze_ga.toml with a deep net and the safe-mutation settings."""
    exp = tomllib.loads(MAZE.read_text())
    exp.pop("expect", None)
    exp["agent"].update(
        hidden=hidden,
        safe_mutation=mode,
        safe_mutation_batch=batch,
        safe_mutation_floor=floor,
        truncation=10,
    )
    exp["run"]["progress"] = False
    return load_experiment(exp).to_dict()


def fitness(evaluator: GenomeEvaluator, genomes: list[Genome]) -> np.ndarray:
    """One greedy episode per genome (the maze is deterministic)."""
    tasks = [EvalTask(i, g, 1, 0) for i, g in enumerate(genomes)]
    return np.array([f.mean_return for f in evaluator.evaluate_many(tasks, lambda: None)])


def evolve(
    evaluator: GenomeEvaluator, population: list[Genome], generations: int, keep: int, sigma: float
) -> tuple[list[Genome], np.ndarray]:
    """The `keep` best genomes (and their fitness) after `generations` of truncation selection
    and plain mutation (seeded), or of the initial population with generations = 0."""
    rng = np.random.default_rng(7)
    for _ in range(generations + 1):
        fit = fitness(evaluator, population)
        best = np.argsort(-fit, kind="stable")[:keep]
        parents = [population[i] for i in best]
        population = parents + [
            parents[int(rng.integers(keep))].child(int(rng.integers(2**32)), sigma)
            for _ in range(len(population) - keep)
        ]
    return parents, fit[best]


def children_of(parents: list[Genome], count: int, sigma: float, seed: int) -> list[Genome]:
    rng = np.random.default_rng(seed)
    return [p.child(int(rng.integers(2**32)), sigma) for p in parents for _ in range(count)]


def summarise(parent_fit: np.ndarray, child_fit: np.ndarray) -> dict[str, float]:
    """child_fit: (parents, children). Collapse: below half the parent's fitness."""
    collapsed = child_fit < 0.5 * parent_fit[:, None]
    per_parent = collapsed.mean(axis=1)
    return {
        "collapse": float(collapsed.mean()),
        "std": float(per_parent.std()),
        "min": float(per_parent.min()),
        "max": float(per_parent.max()),
        "changed": float((child_fit != parent_fit[:, None]).mean()),
        "improved": float((child_fit > parent_fit[:, None]).mean()),
        "ratio": float((child_fit / parent_fit[:, None]).mean()),
    }


def sensitivity_seconds(agent: GAAgent, repeats: int = 3) -> float:
    """Seconds for one parent's SM-G factors (the decode cost SM-G adds per parent)."""
    scale = agent.decoder.scale
    assert isinstance(scale, SafeMutation)
    vector = agent.params.numpy().copy()
    scale(vector)
    start = time.perf_counter()
    for _ in range(repeats):
        scale(vector)
    return (time.perf_counter() - start) / repeats


def step_shares(agent: GAAgent) -> list[float]:
    """Each weight matrix's (with its bias) share of SM-G's expected squared step for the
    agent's current parameters; a plain mutation's share is the layer's share of parameters."""
    scale = agent.decoder.scale
    assert isinstance(scale, SafeMutation)
    squares = np.square(scale(agent.params.numpy().copy()), dtype=np.float64)
    sizes = [
        sum(p.numel() for p in module.parameters(recurse=False))
        for module in agent.net.modules()
        if isinstance(getattr(module, "weight", None), torch.Tensor)
    ]
    bounds = np.cumsum([0, *sizes])
    return [float(squares[a:b].sum() / squares.sum()) for a, b in itertools.pairwise(bounds)]


def cnn_seconds(batch: int) -> float:
    spec = EnvSpec(
        "ALE/Frostbite-v5",
        gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
        gym.spaces.Discrete(18),
        1,
    )
    config = GAConfig(network="nature_cnn", safe_mutation="sum", safe_mutation_batch=batch)
    agent = GAAgent(config, spec, seed=0)
    print(f"Nature CNN (Frostbite): {agent.params.size:,} parameters, batch {batch}")
    return sensitivity_seconds(agent, repeats=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256] * 17)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3])
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--parents", type=int, default=10)
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--evolve", type=int, default=5)
    parser.add_argument("--evolve-sigma", type=float, default=0.01)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--floor", type=float, default=0.01)
    parser.add_argument("--cnn", action="store_true", help="also time SM-G on the Nature CNN")
    args = parser.parse_args()
    evaluators = {
        mode: GenomeEvaluator(experiment(args.hidden, mode, args.batch, args.floor))
        for mode in ("off", "sum")
    }
    agent = evaluators["sum"].agent
    assert isinstance(agent, GAAgent)
    print(f"maze, MLP hidden {args.hidden}: {agent.params.size:,} parameters")
    candidates = [Genome(seed) for seed in range(args.candidates)]
    parents, parent_fit = evolve(
        evaluators["off"], candidates, args.evolve, args.parents, args.evolve_sigma
    )
    print(
        f"parents: best {args.parents} of {args.candidates} after {args.evolve} plain-GA "
        f"generations (sigma {args.evolve_sigma}), mutations {[len(p) for p in parents]}, fitness"
    )
    print("  " + " ".join(f"{f:.2f}" for f in parent_fit))
    if (parent_fit <= 0).any():
        print("warning: a parent with fitness <= 0: collapse (below half) is ill-defined there")
    header = f"{'sigma':>6} {'mode':>4} {'collapse':>8} {'std':>6} {'range':>11}"
    print(header + f" {'changed':>7} {'improved':>8} {'child/parent':>12} {'eval s':>7}")
    for k, sigma in enumerate(args.sigmas):
        children = children_of(parents, args.children, sigma, seed=1_000 + k)
        for mode, evaluator in evaluators.items():
            start = time.perf_counter()
            child_fit = fitness(evaluator, children).reshape(args.parents, args.children)
            seconds = time.perf_counter() - start
            row = summarise(parent_fit, child_fit)
            print(
                f"{sigma:>6g} {mode:>4} {row['collapse']:>8.3f} {row['std']:>6.3f} "
                f"{row['min']:>5.2f}-{row['max']:<5.2f} {row['changed']:>7.3f} "
                f"{row['improved']:>8.3f} {row['ratio']:>12.3f} {seconds:>7.1f}"
            )
    agent.set_genome(parents[0])
    print(f"SM-G factors of one parent (maze MLP): {sensitivity_seconds(agent) * 1e3:.0f} ms")
    shares = " ".join(f"{share:.3f}" for share in step_shares(agent))
    print(f"share of SM-G's squared step per layer, input to output (parent 1): {shares}")
    if args.cnn:
        torch.set_num_threads(1)
        print(f"SM-G factors of one parent (Nature CNN, 1 thread): {cnn_seconds(args.batch):.1f} s")
    for evaluator in evaluators.values():
        evaluator.close()


if __name__ == "__main__":
    main()
