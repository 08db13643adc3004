"""CartPole-v1 evolution strategies: rlkit's OpenAI-ES vs EvoTorch's PGPE (or SNES), equal
evaluations, alternating runs, medians and ratios.

Matched: the 4-16-2 tanh MLP with greedy (argmax) actions, 2 x pairs perturbations per
iteration with antithetic (symmetric) sampling, centred-rank fitness shaping, Adam on the
centre with the same step size, a fixed noise std sigma (PGPE's stdev learning rate 0), one
episode per perturbation, both serial in this process with 1 torch thread. The budget is a
number of episodes: rlkit plays 2 x pairs perturbation episodes plus `centre_episodes` episodes
of each updated centre per iteration, EvoTorch popsize = 2 x pairs per generation, so EvoTorch
gets as many generations as fit in rlkit's episodes (it plays no centre episodes, so it gets
more perturbation episodes). Differences that remain, as the libraries are: rlkit adds weight
decay (l2) and its initial centre is U(+-1/sqrt(fan_in)), EvoTorch's PGPE starts from
initial_bounds (-0.5, 0.5); SNES adapts its stdev and uses its own learning rates.

Measured per run: wall time of the iterations (rlkit: summary.json's wall_s; EvoTorch: its
searcher.step() calls) and the final centre's greedy return over 10 episodes (rlkit: the run's
final evaluation; EvoTorch: its centre played on CartPole-v1 seeds 0-9). Runs alternate
rlkit, EvoTorch, rlkit, ... over --repeats seeds; medians and the ratio of median times
EvoTorch / rlkit (> 1: rlkit is faster) are printed with the machine and its load.

    python experiments/benchmarks/bench_es_evotorch.py --repeats 5 --algorithm pgpe
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from evotorch.algorithms import PGPE, SNES
from evotorch.neuroevolution import GymNE

import rlkit

NETWORK = "Linear(obs_length, 16) >> Tanh() >> Linear(16, act_length)"


def es_settings() -> dict[str, float | int]:
    """The bundled cartpole_es experiment's settings that both libraries share."""
    agent = rlkit.load_experiment("cartpole_es").agent
    return {
        "pairs": agent.pairs,
        "sigma": agent.sigma,
        "learning_rate": agent.learning_rate,
        "centre_episodes": agent.centre_episodes,
    }


def run_rlkit(iterations: int, seed: int) -> dict[str, float]:
    overrides = [
        f"agent.iterations={iterations}",
        f"run.seed={seed}",
        "run.target_return=1e9",  # no early stop: equal evaluations
        "run.progress=false",
    ]
    exp = rlkit.load_experiment("cartpole_es", overrides)
    with tempfile.TemporaryDirectory() as tmp:
        summary = rlkit.train(exp, Path(tmp) / "run")
    return {
        "wall_s": summary["wall_s"],
        "return": summary["final_eval"]["mean_return"],
        "episodes": summary["episodes"],
    }


def greedy_return(problem: GymNE, centre: torch.Tensor, episodes: int = 10) -> float:
    """Mean return of the centre's argmax policy on CartPole-v1 seeds 0..episodes-1."""
    policy = problem.to_policy(centre)
    env = gym.make("CartPole-v1")
    total = 0.0
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            with torch.no_grad():
                scores = policy(torch.as_tensor(obs, dtype=torch.float32))
            obs, reward, terminated, truncated, _ = env.step(int(scores.argmax()))
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / episodes


def run_evotorch(algorithm: str, generations: int, seed: int) -> dict[str, float]:
    settings = es_settings()
    torch.manual_seed(seed)
    np.random.seed(seed)
    problem = GymNE(env="CartPole-v1", network=NETWORK, num_episodes=1, initial_bounds=(-0.5, 0.5))
    popsize = 2 * int(settings["pairs"])
    if algorithm == "pgpe":
        searcher: PGPE | SNES = PGPE(
            problem,
            popsize=popsize,
            center_learning_rate=float(settings["learning_rate"]),
            stdev_learning_rate=0.0,
            stdev_init=float(settings["sigma"]),
            optimizer="adam",
            ranking_method="centered",
            symmetric=True,
        )
    else:
        searcher = SNES(problem, popsize=popsize, stdev_init=float(settings["sigma"]))
    start = time.perf_counter()
    for _ in range(generations):
        searcher.step()
    wall = time.perf_counter() - start
    centre = searcher.status["center"]
    return {
        "wall_s": wall,
        "return": greedy_return(problem, centre),
        "episodes": generations * popsize,
    }


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    python = platform.python_version()
    return f"{model}, {os.cpu_count()} cores, Python {python}, torch {torch.__version__}"


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=None, help="rlkit's budget")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--algorithm", choices=["pgpe", "snes"], default="pgpe")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = es_settings()
    iterations = args.iterations or rlkit.load_experiment("cartpole_es").agent.iterations
    per_iteration = 2 * int(settings["pairs"]) + int(settings["centre_episodes"])
    generations = iterations * per_iteration // (2 * int(settings["pairs"]))
    print(f"machine: {machine()}; load {load()}")
    print(
        f"budget {iterations * per_iteration} episodes: rlkit {iterations} iterations, "
        f"evotorch {args.algorithm} {generations} generations of {2 * int(settings['pairs'])}"
    )
    ours, theirs = [], []
    for seed in range(args.repeats):
        ours.append(run_rlkit(iterations, seed))
        theirs.append(run_evotorch(args.algorithm, generations, seed))
        print(
            f"seed {seed} (load {load()}): rlkit {ours[-1]['wall_s']:.2f} s, return "
            f"{ours[-1]['return']:.1f}; evotorch {theirs[-1]['wall_s']:.2f} s, return "
            f"{theirs[-1]['return']:.1f}"
        )
    for name, runs in (("rlkit", ours), ("evotorch", theirs)):
        print(
            f"{name:8s}: median {statistics.median(r['wall_s'] for r in runs):.2f} s, median "
            f"return {statistics.median(r['return'] for r in runs):.1f}, solved (>= 475) "
            f"{sum(r['return'] >= 475 for r in runs)}/{len(runs)}, "
            f"{statistics.median(r['episodes'] for r in runs):.0f} episodes"
        )
    ratio = statistics.median(r["wall_s"] for r in theirs) / statistics.median(
        r["wall_s"] for r in ours
    )
    print(f"time ratio evotorch / rlkit (medians): {ratio:.2f}x; load at the end {load()}")


if __name__ == "__main__":
    main()
