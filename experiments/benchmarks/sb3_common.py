"""What the rlkit-vs-SB3 benchmarks do the same way: time, evaluate, alternate and report."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch


def time_sb3(
    make_model: Callable[[], Any],
    steps: int,
    eval_episodes: int,
    seed: int,
    flush_denormal: bool = False,
    env_id: str = "CartPole-v1",
) -> tuple[Any, dict[str, float]]:
    """Build, train for `steps` and evaluate an SB3 model; the model and its timings.

    `flush_denormal` is torch's process-wide setting for the SB3 run: False (torch's default,
    as SB3 runs) unless a benchmark asks to give SB3 the setting rlkit's runner applies.
    """
    torch.set_flush_denormal(flush_denormal)  # an rlkit run earlier in the process may set it
    start = time.perf_counter()
    model = make_model()
    learn_start = time.perf_counter()
    model.learn(total_timesteps=steps)
    train_s = time.perf_counter() - learn_start
    returns = sb3_evaluate(model, eval_episodes, seed, env_id)
    return model, {
        "train_s": train_s,
        "total_s": time.perf_counter() - start,
        "steps": model.num_timesteps,
        "eval_mean": float(np.mean(returns)),
        "eval_std": float(np.std(returns)),
    }


def sb3_evaluate(model: Any, episodes: int, seed: int, env_id: str = "CartPole-v1") -> list[float]:
    """Greedy returns of `episodes` episodes of an SB3 model on a separate `env_id` env."""
    return greedy_returns(
        lambda obs: model.predict(obs, deterministic=True)[0], env_id, episodes, seed
    )


def greedy_returns(
    act: Callable[[np.ndarray], Any], env_id: str, episodes: int, seed: int
) -> list[float]:
    """Returns of `episodes` episodes of `act` (one observation -> its greedy action) on a
    separate `env_id` env, episode i reset with seed + 10_000 + i (the same for every library)."""
    env = gym.make(env_id)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + 10_000 + episode)
        total, done = 0.0, False
        while not done:
            action = act(obs)
            obs, reward, terminated, truncated, _ = env.step(int(action) if discrete else action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def training_only_overrides(seed: int, steps: int, eval_episodes: int) -> list[str]:
    """rlkit `--set` overrides for a timed run: the budget and seed, no periodic evaluation, no
    checkpoints before the last, no progress bar, CPU, this process's torch thread count."""
    return [
        f"run.total_steps={steps}",
        f"run.seed={seed}",
        "run.eval_every=0",
        "run.checkpoint_every=0",
        "run.progress=false",
        f"run.final_eval_episodes={eval_episodes}",
        f"run.torch_threads={torch.get_num_threads()}",
        'agent.device="cpu"',
    ]


Row = tuple[str, int, dict[str, float]]
"""One timed run: library ("rlkit" or "sb3"), seed, and its measurements (train_s, total_s,
steps, eval_mean, eval_std, ...)."""


def run_alternating(
    runners: dict[str, Callable[[int, int, int], dict[str, float]]],
    seeds: list[int],
    threads: int,
    steps: int,
    eval_episodes: int,
) -> list[Row]:
    """Run rlkit and SB3 for each seed in one process, alternating who goes first."""
    rows: list[Row] = []
    for i, seed in enumerate(seeds):
        order = ["rlkit", "sb3"] if i % 2 == 0 else ["sb3", "rlkit"]  # alternate who goes first
        for name in order:
            torch.set_num_threads(threads)
            rows.append((name, seed, runners[name](seed, steps, eval_episodes)))
    return rows


def print_rows(rows: list[Row]) -> None:
    """The per-seed table: training and total wall time, env steps/s, greedy return."""
    print(f"{'lib':<6}{'seed':>5}{'train_s':>9}{'total_s':>9}{'steps/s':>9}{'eval return':>16}")
    for name, seed, r in sorted(rows, key=lambda row: (row[1], row[0])):
        print(
            f"{name:<6}{seed:>5}{r['train_s']:>9.1f}{r['total_s']:>9.1f}"
            f"{r['steps'] / r['train_s']:>9.0f}{r['eval_mean']:>10.1f} ± {r['eval_std']:<5.1f}"
        )


def print_speed_ratio(rows: list[Row]) -> None:
    """The last line of a benchmark: mean and per-seed SB3_time / rlkit_time (training time)."""
    times = {n: [r["train_s"] for lib, _, r in rows if lib == n] for n in ("rlkit", "sb3")}
    ratios = [s / r for s, r in zip(times["sb3"], times["rlkit"], strict=True)]
    print(
        f"speed ratio SB3_time / rlkit_time: {statistics.mean(ratios):.2f} "
        f"(per seed: {', '.join(f'{x:.2f}' for x in ratios)}; > 1 means rlkit is faster)"
    )


LIBS = ("rlkit", "sb3")
"""The libraries a learning benchmark compares."""


def parse_steps(values: Sequence[str], defaults: dict[str, int]) -> dict[str, int]:
    """--steps: one budget for every algo (N) or per algo (ALGO=N); `defaults` otherwise."""
    steps = dict(defaults)
    for value in values:
        name, sep, number = value.rpartition("=")
        if sep and name not in steps:
            raise SystemExit(f"--steps {value}: expected N or ALGO=N with ALGO in {tuple(steps)}")
        for algo in [name] if sep else list(steps):
            steps[algo] = int(number.replace("_", ""))
    return steps


def add_learning_options(
    parser: argparse.ArgumentParser, algos: Sequence[str], steps_help: str
) -> None:
    """The options every rlkit-vs-SB3 learning benchmark takes: algos, seeds, libraries,
    budgets, torch threads and SB3's denormal setting."""
    parser.add_argument("--algos", nargs="+", choices=algos, default=list(algos))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--libs", nargs="+", choices=LIBS, default=list(LIBS), help="one only to time it alone"
    )
    parser.add_argument("--steps", nargs="+", default=[], help=steps_help)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both libraries")
    parser.add_argument("--sb3-flush-denormal", action="store_true", help="as rlkit's runner")


def linear_schedule(start: float, decay_steps: int, steps: int) -> float | Callable[[float], float]:
    """SB3's schedule for a value rlkit anneals linearly to 0 over `decay_steps` env steps (0:
    constant): linear in SB3's progress_remaining = 1 - num_timesteps / total_timesteps, so the
    two agree only when rlkit anneals over the whole budget `steps`."""
    if decay_steps == 0:
        return start
    if decay_steps != steps:
        raise SystemExit(f"annealing over {decay_steps} steps of {steps}: SB3 anneals over all")
    return lambda progress_remaining: start * progress_remaining


def sb3_ppo_kwargs(agent: Any, num_envs: int, steps: int) -> dict[str, Any]:
    """SB3 PPO's hyperparameters from an rlkit PPOConfig (`agent`) over `num_envs` envs and a
    budget of `steps`: minibatches become batch_size, annealing becomes SB3 schedules, and
    value_coef is vf_coef as it is (both weigh the plain mean squared error)."""
    return {
        "learning_rate": linear_schedule(agent.learning_rate, agent.lr_decay_steps, steps),
        "n_steps": agent.n_steps,
        "batch_size": agent.n_steps * num_envs // agent.minibatches,
        "n_epochs": agent.epochs,
        "gamma": agent.gamma,
        "gae_lambda": agent.gae_lambda,
        "clip_range": linear_schedule(agent.clip_range, agent.clip_decay_steps, steps),
        "clip_range_vf": agent.clip_range_vf,
        "normalize_advantage": agent.normalize_advantage,
        "ent_coef": agent.entropy_coef,
        "vf_coef": agent.value_coef,
        "max_grad_norm": agent.max_grad_norm,
        "target_kl": agent.target_kl,
    }
