"""Learning tests: each tuned CartPole-v1 DQN variant reaches 475 within 50,000 env steps."""

from pathlib import Path

import pytest

from rlkit.experiment import load_experiment
from rlkit.runner import train

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "variant", ["cartpole_dqn", "cartpole_double_dqn", "cartpole_dueling_dqn",
                "cartpole_dueling_double_dqn"],
)  # fmt: skip
def test_cartpole_variant_reaches_475_within_50k_steps(tmp_path: Path, variant: str) -> None:
    experiment = load_experiment(variant, ["run.progress=false", "run.target_return=475"])
    assert experiment.run.total_steps == 50_000
    assert experiment.run.eval_episodes == 20
    summary = train(experiment, tmp_path / variant)
    evaluations = summary["evaluations"][:-1]  # the last entry is the final evaluation
    print(variant, [(e["step"], round(e["mean_return"])) for e in evaluations])
    assert summary["reached_target_at"] is not None, evaluations
    assert summary["reached_target_at"] <= 50_000
    assert max(e["mean_return"] for e in evaluations) >= 475
