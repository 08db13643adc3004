"""CartPole-v1 GA: rlkit's Deep GA vs EvoTorch's GeneticAlgorithm, same budget in generations.

Matched: population 50, Gaussian mutation with stdev 0.1 (evotorch.operators.GaussianMutation),
the same 4-16-2 tanh MLP with greedy (argmax) actions, initial weights of similar scale (rlkit:
U(+-1/sqrt(fan_in)), i.e. +-0.5 and +-0.25; EvoTorch: initial_bounds (-0.5, 0.5)), one episode
per fitness evaluation, both serial in this process with 1 torch thread. The algorithms differ
as the libraries do: rlkit is the Deep GA of experiments/cartpole_ga.toml (top 10 as parents,
the top 3 re-evaluated on 5 extra episodes for the elite); EvoTorch's GA is elitist (mu + lambda:
each generation mutates every member and keeps the best 50 of parents and children, re-evaluating
the parents). Measured per library: wall time of --generations generations (rlkit: summary.json's
wall_s, the generation loop; EvoTorch: its searcher.step() calls), frames (env steps), the first
generation whose best individual scored 500 on its fitness episode, and (rlkit) the
first generation whose elite averaged 500 on its 5 re-evaluation episodes; then the time ratio
EvoTorch / rlkit at equal generations and per frame (> 1: rlkit is faster), and the time to
solve: rlkit run as the experiment says (stop once the elite averages 500) vs EvoTorch's time to
the generation whose best individual first scored 500.

    python experiments/benchmarks/bench_ga_evotorch.py --generations 8 --seed 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from evotorch.algorithms import GeneticAlgorithm
from evotorch.neuroevolution import GymNE
from evotorch.operators import GaussianMutation

import rlkit
from rlkit.plot import read_scalars

NETWORK = "Linear(obs_length, 16) >> Tanh() >> Linear(16, act_length)"


def first_at_least(values: list[float], target: float) -> int | None:
    """1-based index of the first value >= target, or None."""
    return next((i + 1 for i, v in enumerate(values) if v >= target), None)


def run_rlkit(generations: int, seed: int, target: float = 1e9) -> dict[str, float | int | None]:
    """target 1e9 never stops early (equal generations); 500 is the experiment's own stop."""
    overrides = [
        f"agent.generations={generations}",
        f"run.seed={seed}",
        f"run.target_return={target}",
        "run.progress=false",
    ]
    exp = rlkit.load_experiment("cartpole_ga", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = rlkit.train(exp, Path(tmp) / "run")
        wall = time.perf_counter() - start
        _, best = read_scalars(Path(tmp) / "run", "ga/max_fitness")
    elite = [h["mean_return"] for h in summary["evaluations"]]
    return {
        "wall_s": summary["wall_s"],  # the generations only, as timed for EvoTorch's steps
        "total_s": wall,  # + env and logger set-up, checkpoints, the final 10-episode eval
        "frames": summary["steps"],
        "best_500_at": first_at_least(list(best), 500.0),
        "elite_500_at": first_at_least(elite, 500.0),
        "final_best": float(best[-1]),
        "generations": summary["generations"],
    }


def run_evotorch(generations: int, seed: int) -> dict[str, float | int | None]:
    torch.manual_seed(seed)
    problem = GymNE(
        env="CartPole-v1",
        network=NETWORK,
        num_episodes=1,
        initial_bounds=(-0.5, 0.5),
    )
    searcher = GeneticAlgorithm(
        problem, popsize=50, operators=[GaussianMutation(problem, stdev=0.1)], elitist=True
    )
    best: list[float] = []
    elapsed: list[float] = []
    start = time.perf_counter()
    for _ in range(generations):
        searcher.step()
        best.append(float(searcher.status["pop_best_eval"]))
        elapsed.append(time.perf_counter() - start)
    wall = elapsed[-1]
    solved = first_at_least(best, 500.0)
    return {
        "wall_s": wall,
        "frames": int(problem.status.get("total_interaction_count", 0)),
        "best_500_at": solved,
        "elite_500_at": None,
        "final_best": best[-1],
        "solve_s": elapsed[solved - 1] if solved else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    np.random.seed(args.seed)
    results = {
        "rlkit": run_rlkit(args.generations, args.seed),
        "evotorch": run_evotorch(args.generations, args.seed),
    }
    solving = run_rlkit(args.generations, args.seed, target=500.0)
    print(
        "rlkit train() wall time incl. set-up and final evaluation: "
        f"{results['rlkit']['total_s']:.1f} s (equal generations), {solving['total_s']:.1f} s "
        "(to solve)"
    )
    for name, r in results.items():
        print(
            f"{name:8s}: {args.generations} generations in {r['wall_s']:.1f} s, "
            f"{r['frames']:,} frames ({r['frames'] / r['wall_s']:,.0f}/s), best 500 at generation "
            f"{r['best_500_at']}, elite (5 episodes) 500 at {r['elite_500_at']}, "
            f"last best {r['final_best']:.0f}"
        )
    ours, theirs = results["rlkit"], results["evotorch"]
    print(
        f"time ratio evotorch / rlkit at {args.generations} generations: "
        f"{theirs['wall_s'] / ours['wall_s']:.2f}x"
    )
    print(
        f"per-frame time ratio evotorch / rlkit: "
        f"{(theirs['wall_s'] / theirs['frames']) / (ours['wall_s'] / ours['frames']):.2f}x"
    )
    print(
        f"time to solve: rlkit (stops when its elite averages 500) {solving['wall_s']:.1f} s at "
        f"generation {solving['generations']}; evotorch (best single episode 500) "
        f"{theirs['solve_s'] or float('nan'):.1f} s at generation {theirs['best_500_at']}"
    )
    if theirs["solve_s"]:
        print(f"time-to-solve ratio evotorch / rlkit: {theirs['solve_s'] / solving['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
