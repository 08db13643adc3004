"""PPO on CartPole-v1 or Pendulum-v1: rlkit vs Stable-Baselines3 with the same settings, in one run.

--env cartpole: rl-zoo's PPO settings for CartPole-v1, as written in experiments/cartpole_ppo.toml:
8 envs, n_steps 32, 20 epochs over 1 minibatch of 256 (SB3: batch_size 256), GAE lambda 0.8,
gamma 0.98, Adam at lr 1e-3 and clip range 0.2, both annealed linearly to 0 over the run,
ent_coef 0, 100,000 steps.

--env pendulum: Pendulum-v1 with rl-zoo's PPO settings for it but for two: 4 envs, n_steps 1024,
10 epochs over minibatches of 64 (rlkit: minibatches 4 * 1024 / 64 = 64), GAE lambda 0.95, gamma
0.9, Adam at a constant lr 1e-3, constant clip range 0.2, ent_coef 0, 100,000 steps. Different
from rl-zoo: no gSDE (rl-zoo: use_sde, sde_sample_freq 4; rlkit has no gSDE; here both use a
state-independent diagonal Gaussian with log std initialised to 0) and no normalisation (rl-zoo
wraps the envs in VecNormalize, observations and rewards; off on both sides, as issue 15 item 5
asked when rlkit's normalisation was not wired in yet). experiments/pendulum_ppo.toml, with lr
annealing and normalisation over 200,000 steps, is another setting.

Both sides: separate policy and value MLPs of [64, 64] tanh with orthogonal initialisation, Adam
eps 1e-5, max_grad_norm 0.5, vf_coef 0.5, per-minibatch advantage standardisation, no value
clipping, no target_kl; rlkit steps a gymnasium SyncVectorEnv (its runner), SB3 a DummyVecEnv of
as many envs; CPU; the same torch thread count for both, torch.set_num_threads(--threads,
default 1) in this process and run.torch_threads for rlkit's runner. Denormal floats: as each
library ships (rlkit's runner flushes them, SB3 does not) unless --sb3-flush-denormal.

The budget is rounded up to whole rollouts (CartPole: 100,096 = 391 * 256; Pendulum: 102,400 =
25 * 4096), which is what SB3 runs when asked for 100,000 steps; rlkit gets the same budget and
anneals over it as SB3 does, so both make the same number of updates with the same schedules.

Measured per library and seed: wall time of training alone (rlkit: the run's wall_s, the step loop
without the final evaluation and checkpoint; SB3: model.learn), env steps/s, and the mean return
of 20 greedy episodes of the final policy afterwards, on a separate env whose episode i is reset
with seed + 10,000 + i for both libraries (sb3_common.greedy_returns). The libraries alternate
within one process (who goes first alternates by seed). The last lines are the medians and the
speed ratio SB3_time / rlkit_time (> 1: rlkit is faster).

    python experiments/benchmarks/bench_ppo_cartpole.py --quick
    python experiments/benchmarks/bench_ppo_cartpole.py --env cartpole --seeds 0 1 2
    python experiments/benchmarks/bench_ppo_cartpole.py --env pendulum --seeds 0 1 2
    python experiments/benchmarks/bench_ppo_cartpole.py --env pendulum --profile 20000
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_common import (
    Row,
    greedy_returns,
    print_rows,
    print_speed_ratio,
    run_alternating,
    sb3_ppo_kwargs,
    time_sb3,
    training_only_overrides,
)
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import rlkit
from rlkit.training.runner import open_session

CARTPOLE = Path(__file__).resolve().parents[1] / "cartpole_ppo.toml"

PENDULUM: dict[str, Any] = {
    "name": "pendulum_ppo_bench",
    "description": "PPO on Pendulum-v1, rl-zoo's settings without gSDE and normalisation",
    "env": {"id": "Pendulum-v1", "num_envs": 4},
    "agent": {
        "name": "ppo",
        "n_steps": 1024,
        "epochs": 10,
        "minibatches": 64,
        "gae_lambda": 0.95,
        "gamma": 0.9,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
        "entropy_coef": 0.0,
    },
    "run": {"total_steps": 100_000},
}


@dataclass(frozen=True)
class Task:
    """One --env choice: the rlkit experiment (file or tables) and its default budget."""

    env_id: str
    source: Path | dict[str, Any]
    steps: int


TASKS = {
    "cartpole": Task("CartPole-v1", CARTPOLE, 100_000),
    "pendulum": Task("Pendulum-v1", PENDULUM, 100_000),
}
SB3_FLUSH_DENORMAL = False
"""--sb3-flush-denormal: give SB3 rlkit's runner's setting (flush) instead of torch's default."""


def rollout_size(task: Task) -> int:
    """Transitions per update: n_steps * num_envs."""
    experiment = rlkit.load_experiment(task.source)
    return int(experiment.agent.n_steps * experiment.env.num_envs)


def whole_rollouts(task: Task, steps: int) -> int:
    """`steps` rounded up to whole rollouts, the budget SB3 runs when asked for `steps`."""
    size = rollout_size(task)
    return math.ceil(steps / size) * size


def rlkit_experiment(task: Task, seed: int, steps: int, eval_episodes: int) -> Any:
    """The task's experiment for a timed run of `steps` steps; an annealed lr or clip range
    anneals over `steps`, as SB3's linear schedules do over total_timesteps."""
    overrides = training_only_overrides(seed, steps, eval_episodes)
    agent = rlkit.load_experiment(task.source).agent
    for name in ("lr_decay_steps", "clip_decay_steps"):
        if getattr(agent, name):
            overrides.append(f"agent.{name}={steps}")
    return rlkit.load_experiment(task.source, overrides)


def run_rlkit(task: Task, seed: int, steps: int, eval_episodes: int) -> dict[str, float]:
    """Train with rlkit's runner (its own final evaluation cut to 1 episode), then evaluate the
    trained agent greedily as SB3's model is evaluated."""
    experiment = rlkit_experiment(task, seed, steps, 1)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with open_session(experiment, Path(tmp) / "run") as session:
            summary = session.run()
        agent = session.agent
        returns = greedy_returns(
            lambda obs: agent.act(obs[None], explore=False)[0], task.env_id, eval_episodes, seed
        )
        total = time.perf_counter() - start
    return {
        "train_s": summary["wall_s"],
        "total_s": total,
        "steps": summary["steps"],
        "updates": agent.updates,
        "eval_mean": float(np.mean(returns)),
        "eval_std": float(np.std(returns)),
    }


def sb3_model(task: Task, seed: int, steps: int) -> PPO:
    """SB3 PPO with the settings of the task's rlkit experiment."""
    experiment = rlkit_experiment(task, seed, steps, 1)
    a, env = experiment.agent, experiment.env
    matches_sb3 = {
        "optimizer adam": a.optimizer == "adam",
        "separate trunks": not a.shared_trunk,
        "one learning rate": a.critic_learning_rate is None,
        "orthogonal init": a.orthogonal_init,
        "tanh": a.activation == "tanh",
        "mlp": a.network in ("auto", "mlp"),
        "no normalisation": not (
            getattr(a, "normalize_observations", False) or getattr(a, "normalize_rewards", False)
        ),
    }
    if not all(matches_sb3.values()):
        raise SystemExit(f"{experiment.name} differs from SB3's PPO in: {matches_sb3}")
    return PPO(
        "MlpPolicy",
        make_vec_env(env.id, n_envs=env.num_envs, seed=seed),
        **sb3_ppo_kwargs(a, env.num_envs, steps),
        policy_kwargs={
            "net_arch": {"pi": list(a.hidden), "vf": list(a.hidden)},
            "activation_fn": torch.nn.Tanh,
            "ortho_init": True,
            "log_std_init": 0.0 if a.log_std_init is None else a.log_std_init,
            "optimizer_kwargs": {"eps": a.optimizer_eps},
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )


def run_sb3(task: Task, seed: int, steps: int, eval_episodes: int) -> dict[str, float]:
    model, result = time_sb3(
        lambda: sb3_model(task, seed, steps),
        steps,
        eval_episodes,
        seed,
        SB3_FLUSH_DENORMAL,
        task.env_id,
    )
    result["updates"] = model._n_updates / model.n_epochs
    return result


def print_medians(rows: list[Row]) -> None:
    """Median training time and greedy return per library, and the ratio of the medians."""
    medians: dict[str, float] = {}
    for name in ("rlkit", "sb3"):
        mine = [r for lib, _, r in rows if lib == name]
        medians[name] = statistics.median(r["train_s"] for r in mine)
        print(
            f"median {name:<6} train_s {medians[name]:.1f}, "
            f"eval return {statistics.median(r['eval_mean'] for r in mine):.1f}"
        )
    times = {n: [r["train_s"] for lib, _, r in rows if lib == n] for n in ("rlkit", "sb3")}
    ratios = [s / r for s, r in zip(times["sb3"], times["rlkit"], strict=True)]
    print(
        f"median of per-seed ratios {statistics.median(ratios):.2f}; "
        f"ratio of median times {medians['sb3'] / medians['rlkit']:.2f}"
    )


def profile_rlkit(task: Task, steps: int, top: int) -> None:
    """cProfile one rlkit training run; the top functions by cumulative and by own time."""
    experiment = rlkit_experiment(task, 0, steps, 1)
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        summary = rlkit.train(experiment, Path(tmp) / "run")
        profiler.disable()
    print(f"rlkit {task.env_id} {steps:,} steps: wall_s {summary['wall_s']:.1f} under cProfile")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(TASKS), default="cartpole")
    parser.add_argument("--quick", action="store_true", help="10,000 steps, 2 eval episodes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, help="env steps (default: the task's 100,000)")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both libraries")
    parser.add_argument("--sb3-flush-denormal", action="store_true", help="as rlkit's runner")
    parser.add_argument("--profile", type=int, metavar="STEPS", help="cProfile rlkit only")
    args = parser.parse_args()
    global SB3_FLUSH_DENORMAL
    SB3_FLUSH_DENORMAL = args.sb3_flush_denormal
    task = TASKS[args.env]
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_rlkit(task, whole_rollouts(task, args.profile), 25)
        return
    asked, episodes = (10_000, 2) if args.quick else (args.steps or task.steps, args.eval_episodes)
    steps = whole_rollouts(task, asked)
    print(
        f"{task.env_id} PPO, {steps:,} env steps ({asked:,} rounded up to whole rollouts of "
        f"{rollout_size(task)}), torch {torch.__version__}, "
        f"torch.get_num_threads()={torch.get_num_threads()}, flush denormals: rlkit True, "
        f"SB3 {SB3_FLUSH_DENORMAL}"
    )
    runners: dict[str, Callable[[int, int, int], dict[str, float]]] = {
        "rlkit": lambda seed, n, eps: run_rlkit(task, seed, n, eps),
        "sb3": lambda seed, n, eps: run_sb3(task, seed, n, eps),
    }
    rows = run_alternating(runners, args.seeds, args.threads, steps, episodes)
    print_rows(rows)
    print("updates: " + ", ".join(f"{lib} {seed} {r['updates']:.0f}" for lib, seed, r in rows))
    print_medians(rows)
    print_speed_ratio(rows)


if __name__ == "__main__":
    main()
