"""Learning tests: tuned REINFORCE, A2C and PPO reach a greedy 475 on CartPole-v1; PPO swings
Pendulum-v1 up.

Claims over seeds (tests/across_seeds.py): 1 of 3 seeds. Measured again over seeds 0-9 natively
and with ATEN_CPU_CAPABILITY=default after the family moved to closed-form gradients, the
hand-written MLP pass and fused Adam (experiments/benchmarks/RESULTS.md, "Learning tests across
CPU kinds"): REINFORCE, A2C and PPO on CartPole met their claims in 20 of 20 runs each (PPO at
10,000 to 40,000 steps of its 100,000); at the estimated rate (21/22) a claim of 1 of 3 fails by
chance less than once in ten thousand runs.
"""

from pathlib import Path

import pytest
from across_seeds import Outcome, at_least_k_of

from rlkit.experiment import load_experiment
from rlkit.training.runner import train

pytestmark = pytest.mark.slow
TARGET = ["run.progress=false", "run.target_return=475", "run.final_eval_episodes=1"]
SEEDS, K = (0, 1, 2), 1
PENDULUM_SEEDS = (0, 1, 2, 3, 4, 5, 6)
"""pendulum_ppo as shipped met -250 within 200,000 steps on 8 of seeds 0-9 natively (1 and 5
missed) and 6 with ATEN_CPU_CAPABILITY=default (3, 4, 7 and 9 missed): at the estimated rate
(15/22) 1 of 7 seeds fails by chance about once in three thousand runs."""


def curve(summary: dict[str, object]) -> list[tuple[int, int]]:
    history = summary["evaluations"][:-1]  # type: ignore[index]  # the last one is the final
    return [(e["step"], round(e["mean_return"])) for e in history]


def test_reinforce_reaches_475_within_1000_episodes(tmp_path: Path) -> None:
    def claim(seed: int) -> Outcome:
        experiment = load_experiment("cartpole_reinforce", [*TARGET, f"run.seed={seed}"])
        assert experiment.run.eval_episodes == 20
        summary = train(experiment, tmp_path / f"seed-{seed}")
        reached, episodes = summary["reached_target_at"], summary["episodes"]
        # episodes: those trained on when the target was reached (the run stops there)
        return reached is not None and episodes <= 1_000, f"{episodes} episodes {curve(summary)}"

    at_least_k_of(claim, SEEDS, K, "reinforce")


def test_a2c_reaches_475_within_200k_steps(tmp_path: Path) -> None:
    def claim(seed: int) -> Outcome:
        overrides = [*TARGET, "run.total_steps=200_000", f"run.seed={seed}"]
        experiment = load_experiment("cartpole_a2c", overrides)
        assert experiment.run.eval_episodes == 20
        summary = train(experiment, tmp_path / f"seed-{seed}")
        return summary["reached_target_at"] is not None, f"evaluations {curve(summary)}"

    at_least_k_of(claim, SEEDS, K, "a2c")


def test_ppo_reaches_475_within_100k_steps(tmp_path: Path) -> None:
    def claim(seed: int) -> Outcome:
        experiment = load_experiment("cartpole_ppo", [*TARGET, f"run.seed={seed}"])
        assert experiment.run.total_steps == 100_000
        summary = train(experiment, tmp_path / f"seed-{seed}")
        return summary["reached_target_at"] is not None, f"evaluations {curve(summary)}"

    at_least_k_of(claim, SEEDS, K, "ppo")


def test_ppo_swings_pendulum_up_within_200k_steps(tmp_path: Path) -> None:
    def claim(seed: int) -> Outcome:
        overrides = ["run.progress=false", "run.final_eval_episodes=1", f"run.seed={seed}"]
        experiment = load_experiment("pendulum_ppo", overrides)
        assert experiment.run.target_return == -250
        summary = train(experiment, tmp_path / f"seed-{seed}")
        return summary["reached_target_at"] is not None, f"evaluations {curve(summary)}"

    at_least_k_of(claim, PENDULUM_SEEDS, 1, "ppo_pendulum")
