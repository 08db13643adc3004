"""Compact genomes: bytes of a Deep GA genome vs the weights it encodes, for the Atari network.

Builds the GA's Nature CNN policy for Frostbite (4x84x84 frames, 18 actions), evolves one
lineage for --generations generations (one mutation each, sigma 0.002 as in the paper), and
prints the parameter count, the serialised genome size, the float32 weights' size and
torch.save's size of the same network, with ratios; then the cost of rebuilding the network from
the genome from scratch and of a child of a cached parent (one mutation).

    python experiments/benchmarks/bench_ga_genome_size.py
    python experiments/benchmarks/bench_ga_genome_size.py --generations 1000
"""

from __future__ import annotations

import argparse
import io
import time

import gymnasium as gym
import numpy as np
import torch

from rlkit.agent import EnvSpec
from rlkit.agents.ga import GAAgent, GAConfig
from rlkit.agents.ga.genome import Genome


def frostbite_agent() -> GAAgent:
    spec = EnvSpec(
        env_id="ALE/Frostbite-v5",
        observation_space=gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
        action_space=gym.spaces.Discrete(18),
        num_envs=1,
    )
    return GAAgent(GAConfig(network="nature_cnn", truncation=20, sigma=0.002), spec, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    agent = frostbite_agent()
    rng = np.random.default_rng(0)
    genome = Genome(int(rng.integers(2**32)))
    for _ in range(args.generations):
        genome = genome.child(int(rng.integers(2**32)), 0.002)
    params = agent.params.size
    weights = params * 4
    buffer = io.BytesIO()
    torch.save(agent.net.state_dict(), buffer)
    print(f"Nature CNN policy for Frostbite: {params:,} parameters")
    print(f"genome after {args.generations} generations: {genome.nbytes:,} bytes")
    print(f"float32 weights: {weights:,} bytes; torch.save state_dict: {len(buffer.getvalue()):,}")
    print(f"ratio weights / genome: {weights / genome.nbytes:,.0f}x")
    print(f"target (< 2 KB for > 1M parameters): {genome.nbytes < 2048 and params > 1_000_000}")
    decoder = agent.decoder
    start = time.perf_counter()
    decoder.cached(genome.parent())
    scratch = time.perf_counter() - start
    start = time.perf_counter()
    agent.set_genome(genome)
    child = time.perf_counter() - start
    print(
        f"rebuild from scratch ({len(genome) - 1} mutations): {scratch:.2f} s "
        f"({scratch / max(len(genome) - 1, 1) * 1e3:.1f} ms per mutation of {params:,} normals)"
    )
    print(f"rebuild of a child of a cached parent (1 mutation + load): {child * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
