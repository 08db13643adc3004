"""What the CartPole benchmarks do the same way with Stable-Baselines3: time and evaluate."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
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
    returns = sb3_evaluate(model, eval_episodes, seed)
    return model, {
        "train_s": train_s,
        "total_s": time.perf_counter() - start,
        "steps": model.num_timesteps,
        "eval_mean": float(np.mean(returns)),
        "eval_std": float(np.std(returns)),
    }


def sb3_evaluate(model: Any, episodes: int, seed: int) -> list[float]:
    """Greedy returns of `episodes` episodes on a separate CartPole-v1 env."""
    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + 10_000 + episode)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def print_speed_ratio(rows: list[tuple[str, int, dict[str, float]]]) -> None:
    """The last line of a benchmark: mean and per-seed SB3_time / rlkit_time (training time)."""
    times = {n: [r["train_s"] for lib, _, r in rows if lib == n] for n in ("rlkit", "sb3")}
    ratios = [s / r for s, r in zip(times["sb3"], times["rlkit"], strict=True)]
    print(
        f"speed ratio SB3_time / rlkit_time: {statistics.mean(ratios):.2f} "
        f"(per seed: {', '.join(f'{x:.2f}' for x in ratios)}; > 1 means rlkit is faster)"
    )
