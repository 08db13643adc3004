"""Learning tests: each tuned CartPole-v1 DQN variant reaches a greedy 475 within 50,000 steps.

The claim is over seeds, not one trajectory (see tests/across_seeds.py): for each variant, at
least K of SEEDS reach a periodic greedy evaluation (20 episodes) of 475 or more within the
shipped 50,000-step budget. Measured over seeds and emulated CPU kinds (experiments/benchmarks/
RESULTS.md, "Learning tests across CPU kinds"), a seed reaches it with probability about 0.9 or
more for every variant (Double DQN's seed 0 misses on this AMD machine, meets on Intel
AVX-512); 1 of 4 seeds then fails by chance less than once in ten thousand runs.
"""

from pathlib import Path

import pytest
from across_seeds import Outcome, at_least_k_of

from rlkit.experiment import load_experiment
from rlkit.training.runner import train

pytestmark = pytest.mark.slow
SEEDS, K = (0, 1, 2, 3), 1
VARIANTS = ["cartpole_dqn", "cartpole_double_dqn", "cartpole_dueling_dqn",
            "cartpole_dueling_double_dqn"]  # fmt: skip


@pytest.mark.parametrize("variant", VARIANTS)
def test_cartpole_variant_reaches_475_within_50k_steps(tmp_path: Path, variant: str) -> None:
    def claim(seed: int) -> Outcome:
        overrides = ["run.progress=false", "run.target_return=475", f"run.seed={seed}"]
        experiment = load_experiment(variant, [*overrides, "run.final_eval_episodes=1"])
        assert (experiment.run.total_steps, experiment.run.eval_episodes) == (50_000, 20)
        summary = train(experiment, tmp_path / f"seed-{seed}")
        curve = [(e["step"], round(e["mean_return"])) for e in summary["evaluations"][:-1]]
        return summary["reached_target_at"] is not None, f"evaluations {curve}"

    at_least_k_of(claim, SEEDS, K, variant)
