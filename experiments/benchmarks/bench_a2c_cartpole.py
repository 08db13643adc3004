"""A2C on CartPole-v1: rlkit vs Stable-Baselines3 with the same hyperparameters, in one run.

The hyperparameters are rl-zoo's for A2C on CartPole-v1 (8 envs, 500,000 steps, ent_coef 0.0,
everything else SB3's defaults), as written in experiments/cartpole_a2c.toml: n_steps 5,
RMSprop (alpha 0.99, eps 1e-5) at lr 7e-4, gamma 0.99, GAE lambda 1.0 (the 5-step rollout
return), vf_coef 0.5, max_grad_norm 0.5, separate policy and value MLPs of [64, 64] tanh with
orthogonal initialisation. Measured per library
and seed: wall time of training to the step budget (no periodic evaluation, no callbacks), env
steps/s, and the mean return of a greedy evaluation afterwards (rlkit: the summary's
final_eval; SB3: model.predict(deterministic=True) on a separate CartPole-v1 env). Both run in
this process with the same torch thread count (--threads, default 1). The last line is the
speed ratio SB3_time / rlkit_time (> 1: rlkit is faster).

    python experiments/benchmarks/bench_a2c_cartpole.py --quick
    python experiments/benchmarks/bench_a2c_cartpole.py --seeds 0 1 2
    python experiments/benchmarks/bench_a2c_cartpole.py --steps 200000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from sb3_common import (
    print_rows,
    print_speed_ratio,
    run_alternating,
    time_sb3,
    training_only_overrides,
)
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env

import rlkit

EXPERIMENT = Path(__file__).resolve().parents[1] / "cartpole_a2c.toml"


def rlkit_experiment(seed: int, steps: int, eval_episodes: int) -> Any:
    """The bundled experiment with training-only overrides (final evaluation only)."""
    return rlkit.load_experiment(EXPERIMENT, training_only_overrides(seed, steps, eval_episodes))


def run_rlkit(seed: int, steps: int, eval_episodes: int) -> dict[str, float]:
    experiment = rlkit_experiment(seed, steps, eval_episodes)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = rlkit.train(experiment, Path(tmp) / "run")
        total = time.perf_counter() - start
    final = summary["final_eval"]
    return {
        "train_s": summary["wall_s"],
        "total_s": total,
        "steps": summary["steps"],
        "eval_mean": final["mean_return"],
        "eval_std": final["std_return"],
    }


def sb3_model(seed: int) -> A2C:
    """SB3 A2C with the hyperparameters of experiments/cartpole_a2c.toml."""
    experiment = rlkit_experiment(seed, 1, 1)
    a = experiment.agent
    matches_sb3 = {
        "optimizer": a.optimizer == "rmsprop",
        "separate trunks": not a.shared_trunk,
        "orthogonal init": a.orthogonal_init,
        "tanh": a.activation == "tanh",
        "GAE or rollout return": a.n_step is None,
        "constant lr": a.lr_decay_steps == 0,
    }
    if not all(matches_sb3.values()):
        raise SystemExit(f"{EXPERIMENT.name} differs from SB3's A2C in: {matches_sb3}")
    return A2C(
        "MlpPolicy",
        make_vec_env("CartPole-v1", n_envs=experiment.env.num_envs, seed=seed),
        n_steps=a.n_steps,
        learning_rate=a.learning_rate,
        rms_prop_eps=a.optimizer_eps,
        gamma=a.gamma,
        gae_lambda=1.0 if a.gae_lambda is None else a.gae_lambda,
        vf_coef=a.value_coef,
        ent_coef=a.entropy_coef,
        max_grad_norm=a.max_grad_norm,
        normalize_advantage=a.normalize_advantage,
        policy_kwargs={
            "net_arch": {"pi": list(a.hidden), "vf": list(a.hidden)},
            "activation_fn": torch.nn.Tanh,
            "ortho_init": True,
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )


def run_sb3(seed: int, steps: int, eval_episodes: int) -> dict[str, float]:
    _, result = time_sb3(lambda: sb3_model(seed), steps, eval_episodes, seed)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 steps, 2 eval episodes")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both libraries")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps, episodes = (20_000, 2) if args.quick else (args.steps, args.eval_episodes)
    print(
        f"CartPole-v1 A2C, 8 envs, {steps:,} env steps, torch {torch.__version__}, "
        f"torch.get_num_threads()={torch.get_num_threads()}"
    )
    runners = {"rlkit": run_rlkit, "sb3": run_sb3}
    rows = run_alternating(runners, args.seeds, args.threads, steps, episodes)
    print_rows(rows)
    print_speed_ratio(rows)


if __name__ == "__main__":
    main()
