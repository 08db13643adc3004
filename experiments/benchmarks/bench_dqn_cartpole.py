"""DQN on CartPole-v1: rlkit vs Stable-Baselines3 with the same hyperparameters, in one run.

Measures, per library and seed: wall time of training to the step budget (no periodic
evaluation, no callbacks), env steps/s, gradient steps/s, and the mean return of a greedy
evaluation afterwards (rlkit: the summary's final_eval; SB3: model.predict(deterministic=True)
on a separate CartPole-v1 env). Hyperparameters come from experiments/cartpole_dqn.toml.
Both run in this process with the same torch thread count (--threads, default 1: torch's
default on a busy small machine oversubscribes the cores and slows a 256x256 MLP many-fold).
The last line is the speed ratio SB3_time / rlkit_time (> 1: rlkit is faster).

Denormal floats: rlkit's runner flushes them to zero by default (`run.flush_denormal`), torch
and SB3 do not; Adam's moments of dead ReLU units decay into that range, where the CPU is many
times slower. `--flush-denormal` picks who flushes: `rlkit` (default: each library as shipped),
`both` (SB3 gets the same setting) or `none` (rlkit with run.flush_denormal=false).

    python experiments/benchmarks/bench_dqn_cartpole.py --quick
    python experiments/benchmarks/bench_dqn_cartpole.py --seeds 0 1 2
    python experiments/benchmarks/bench_dqn_cartpole.py --flush-denormal both
    python experiments/benchmarks/bench_dqn_cartpole.py --burst   # one burst of gradient steps
    python experiments/benchmarks/bench_dqn_cartpole.py --profile 10000   # cProfile of rlkit
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_common import print_speed_ratio, time_sb3
from stable_baselines3 import DQN
from stable_baselines3.common.logger import configure

import rlkit
from rlkit import checkpoint
from rlkit.agent import EnvSpec, Transition
from rlkit.agents.dqn import DQNAgent

EXPERIMENT = Path(__file__).resolve().parents[1] / "cartpole_dqn.toml"


FLUSH = {"rlkit": (True, False), "both": (True, True), "none": (False, False)}
"""--flush-denormal: (rlkit's run.flush_denormal, SB3's torch.set_flush_denormal)."""
FLUSH_MODE = "rlkit"


def rlkit_experiment(seed: int, steps: int, eval_episodes: int) -> Any:
    """The bundled experiment with training-only overrides (final evaluation only)."""
    overrides = [
        f"run.total_steps={steps}",
        f"run.seed={seed}",
        "run.eval_every=0",
        "run.checkpoint_every=0",
        "run.progress=false",
        f"run.final_eval_episodes={eval_episodes}",
        'agent.device="cpu"',
    ]
    run_fields = {f.name for f in dataclasses.fields(rlkit.load_experiment(EXPERIMENT).run)}
    if "torch_threads" in run_fields:  # else the runner leaves torch's thread count alone
        overrides.append(f"run.torch_threads={torch.get_num_threads()}")
    if "flush_denormal" in run_fields:
        overrides.append(f"run.flush_denormal={str(FLUSH[FLUSH_MODE][0]).lower()}")
    return rlkit.load_experiment(EXPERIMENT, overrides)


def run_rlkit(seed: int, steps: int, eval_episodes: int) -> dict[str, float]:
    experiment = rlkit_experiment(seed, steps, eval_episodes)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = rlkit.train(experiment, Path(tmp) / "run")
        total = time.perf_counter() - start
        state = checkpoint.load(checkpoint.latest(Path(tmp) / "run"))
    updates = state["agent"]["counters"][1]
    ev = summary["final_eval"]
    return {
        "train_s": summary["wall_s"],
        "total_s": total,
        "steps": summary["steps"],
        "grad_steps": updates,
        "eval_mean": ev["mean_return"],
        "eval_std": ev["std_return"],
    }


def sb3_model(seed: int, steps: int) -> DQN:
    """SB3 DQN with the hyperparameters of experiments/cartpole_dqn.toml."""
    a = rlkit_experiment(seed, steps, 1).agent
    eps = a.epsilon
    return DQN(
        "MlpPolicy",
        "CartPole-v1",
        learning_rate=a.learning_rate,
        buffer_size=a.replay.capacity,
        learning_starts=a.learning_starts,
        batch_size=a.batch_size,
        tau=a.tau,
        gamma=a.gamma,
        train_freq=(a.train_frequency, "step"),
        gradient_steps=a.gradient_steps,
        target_update_interval=a.target_update_interval,
        exploration_fraction=eps.steps / steps,
        exploration_initial_eps=eps.start,
        exploration_final_eps=eps.end,
        max_grad_norm=a.max_grad_norm,
        policy_kwargs={
            "net_arch": list(a.hidden),
            "activation_fn": torch.nn.ReLU,
            "optimizer_kwargs": {"eps": a.optimizer_eps},
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )


def run_sb3(seed: int, steps: int, eval_episodes: int) -> dict[str, float]:
    flush = FLUSH[FLUSH_MODE][1]
    model, result = time_sb3(lambda: sb3_model(seed, steps), steps, eval_episodes, seed, flush)
    result["grad_steps"] = model._n_updates
    return result


def profile_rlkit(steps: int, top: int) -> None:
    """cProfile one rlkit run of `steps` steps; print the top functions by tottime."""
    experiment = rlkit_experiment(0, steps, 1)
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        summary = rlkit.train(experiment, Path(tmp) / "run")
        profiler.disable()
    print(f"rlkit {steps} steps: loop wall_s {summary['wall_s']:.1f} (under cProfile)")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def time_bursts(fill: int, bursts: int) -> None:
    """Time one training burst (gradient_steps batches) of each library on the same replay
    contents: `fill` CartPole transitions of random play, the best of `bursts` bursts."""
    experiment = rlkit_experiment(0, 50_000, 1)
    a = experiment.agent
    torch.set_flush_denormal(FLUSH[FLUSH_MODE][0])
    env = gym.make("CartPole-v1")
    space, actions = env.observation_space, env.action_space
    assert isinstance(space, gym.spaces.Box)
    assert isinstance(actions, gym.spaces.Discrete)
    agent = DQNAgent(a, EnvSpec("CartPole-v1", space, actions, 1), seed=0)
    model = sb3_model(0, 50_000)
    model.set_logger(configure(None, []))
    obs, _ = env.reset(seed=0)
    for _ in range(fill):
        action = int(actions.sample())
        next_obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(
            Transition(
                obs[None],
                np.array([action]),
                np.array([reward], np.float32),
                next_obs[None],
                np.array([terminated]),
                np.array([truncated]),
            )
        )
        model.replay_buffer.add(
            obs, next_obs, np.array([action]), np.array([reward]), np.array([terminated]), [info]
        )
        obs = next_obs if not (terminated or truncated) else env.reset()[0]
    model._current_progress_remaining = 1.0
    best: dict[str, float] = {}
    for name, burst in (
        ("rlkit", lambda: agent._learn(a.gradient_steps)),
        ("sb3", lambda: model.train(a.gradient_steps, a.batch_size)),
    ):
        if name == "sb3":
            torch.set_flush_denormal(FLUSH[FLUSH_MODE][1])
        times = []
        for _ in range(bursts):
            start = time.perf_counter()
            burst()
            times.append(time.perf_counter() - start)
        best[name] = min(times)
        print(
            f"{name:<6} burst of {a.gradient_steps} gradient steps: {best[name] * 1e3:.1f} ms "
            f"({best[name] / a.gradient_steps * 1e6:.0f} us a step, best of {bursts})"
        )
    print(f"burst ratio SB3 / rlkit: {best['sb3'] / best['rlkit']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3,000 steps, 2 eval episodes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both libraries")
    parser.add_argument("--profile", type=int, metavar="STEPS", help="cProfile rlkit only")
    parser.add_argument("--flush-denormal", choices=sorted(FLUSH), default="rlkit")
    parser.add_argument("--burst", action="store_true", help="time one training burst each")
    args = parser.parse_args()
    global FLUSH_MODE
    FLUSH_MODE = args.flush_denormal
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_rlkit(args.profile, 15)
        return
    if args.burst:
        time_bursts(fill=5_000, bursts=5)
        return
    steps, episodes = (3_000, 2) if args.quick else (args.steps, args.eval_episodes)
    print(
        f"CartPole-v1 DQN, {steps:,} env steps, torch {torch.__version__}, "
        f"torch.get_num_threads()={torch.get_num_threads()}, flush denormals: "
        f"rlkit {FLUSH[FLUSH_MODE][0]}, SB3 {FLUSH[FLUSH_MODE][1]}"
    )
    runners = {"rlkit": run_rlkit, "sb3": run_sb3}
    rows: list[tuple[str, int, dict[str, float]]] = []
    for i, seed in enumerate(args.seeds):
        order = ["rlkit", "sb3"] if i % 2 == 0 else ["sb3", "rlkit"]  # alternate who goes first
        for name in order:
            torch.set_num_threads(args.threads)
            rows.append((name, seed, runners[name](seed, steps, episodes)))
    header = f"{'lib':<6}{'seed':>5}{'train_s':>9}{'total_s':>9}{'steps/s':>9}"
    print(header + f"{'grad':>8}{'grad/s':>8}{'eval return':>16}")
    for name, seed, r in sorted(rows, key=lambda row: (row[1], row[0])):
        print(
            f"{name:<6}{seed:>5}{r['train_s']:>9.1f}{r['total_s']:>9.1f}"
            f"{r['steps'] / r['train_s']:>9.0f}{r['grad_steps']:>8.0f}"
            f"{r['grad_steps'] / r['train_s']:>8.0f}"
            f"{r['eval_mean']:>10.1f} ± {r['eval_std']:<5.1f}"
        )
    print_speed_ratio(rows)


if __name__ == "__main__":
    main()
