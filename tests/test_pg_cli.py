"""Policy-gradient bad input through the CLI: one line, exit code 2, no run directory."""

from pathlib import Path

import pytest

from rlkit.cli import main

FAST = ["--set", "run.progress=false", "--set", "agent.hidden=[16]", "--set", "run.eval_every=0"]
AGENTS = ["cartpole_a2c", "cartpole_reinforce"]


def run_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> str:
    """Run `rlkit run ... --logdir tmp/run`; check exit 2, one error line, no run directory."""
    capsys.readouterr()
    code = main(["run", *argv, "--logdir", str(tmp_path / "run"), *FAST])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rlkit: error:"), lines[0]
    assert not (tmp_path / "run").exists()
    return lines[0]


@pytest.mark.parametrize("experiment", AGENTS)
def test_box_only_option_on_a_discrete_env(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, experiment: str
) -> None:
    line = run_cli(capsys, tmp_path, experiment, "--set", "agent.log_std_init=-0.5")
    assert "log_std_init applies to Box (continuous) actions only" in line
    assert "CartPole-v1 has Discrete(2)" in line


def test_n_step_longer_than_the_rollout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = run_cli(capsys, tmp_path, "cartpole_a2c_book", "--set", "agent.n_step=17")
    assert line == (
        "rlkit: error: agent.n_step must be in [1, n_steps] = [1, 16] (an n-step return "
        "cannot be longer than the rollout), got 17"
    )
    line = run_cli(capsys, tmp_path, "cartpole_a2c", "--set", "agent.n_step=10")
    assert "agent.n_step must be in [1, n_steps] = [1, 5]" in line


def test_n_step_and_gae_together(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = run_cli(capsys, tmp_path, "cartpole_a2c", "--set", "agent.n_step=3")  # has gae_lambda
    assert "n_step and gae_lambda are alternatives; set only one of them" in line


@pytest.mark.parametrize("experiment", AGENTS)
@pytest.mark.parametrize("value", ["0", "-1e-3"])
def test_non_positive_learning_rate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, experiment: str, value: str
) -> None:
    line = run_cli(capsys, tmp_path, experiment, "--set", f"agent.learning_rate={value}")
    assert line == f"rlkit: error: agent.learning_rate must be > 0, got {float(value)}"


@pytest.mark.parametrize("experiment", AGENTS)
@pytest.mark.parametrize("value", ["0", "1.5", "-0.9"])
def test_discount_outside_0_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, experiment: str, value: str
) -> None:
    line = run_cli(capsys, tmp_path, experiment, "--set", f"agent.gamma={value}")
    assert line == f"rlkit: error: agent.gamma must be in (0, 1], got {float(value)}"


@pytest.mark.parametrize("experiment", AGENTS)
def test_discrete_observations_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, experiment: str
) -> None:
    line = run_cli(capsys, tmp_path, experiment, "--set", 'env.id="FrozenLake-v1"')
    assert "needs Box observations" in line
    assert "FrozenLake-v1" in line


def test_misspelt_option_names_the_close_match(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = run_cli(capsys, tmp_path, "cartpole_a2c", "--set", "agent.gae_lamda=0.9")
    assert "agent.gae_lamda: unknown key (did you mean 'gae_lambda'?)" in line
