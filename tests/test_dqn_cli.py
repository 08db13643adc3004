"""DQN bad input through the CLI: one line, exit code 2, nothing good lost."""

from pathlib import Path

import pytest

from rlkit import checkpoint
from rlkit.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, *words: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


FAST = ["--set", "run.progress=false", "--set", "agent.hidden=[16]", "--set", "run.eval_every=0"]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    # Rewards of 1e39 overflow float32 to inf, so the first TD loss is not finite.
    code, _, err = run_cli(
        capsys, "run", "cartpole_dqn", "--logdir", run_dir, *FAST,
        "--set", "env.reward_noise=1e39", "--set", "agent.learning_starts=600",
        "--set", "run.checkpoint_every=500",
    )  # fmt: skip
    assert_one_line(code, err, "loss became", "step", "last good checkpoint")
    saved = checkpoint.list_checkpoints(run_dir)
    assert [p.name for p in saved] == ["step-0000000500.pt"]
    assert checkpoint.load(saved[0])["counters"]["step"] == 500
    assert not (run_dir / "summary.json").exists()


def test_dqn_on_continuous_actions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        capsys, "run", "cartpole_dqn", "--logdir", tmp_path / "run", *FAST,
        "--set", 'env.id="Pendulum-v1"',
    )  # fmt: skip
    assert_one_line(code, err, "'dqn'", "Discrete action space", "Pendulum-v1", "Box")
    assert not (tmp_path / "run").exists()


def test_replay_that_cannot_fit_is_refused_before_allocating(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "run", "cartpole_dqn", "--logdir", tmp_path / "run", *FAST,
        "--set", "agent.replay.capacity=100_000_000_000",
    )  # fmt: skip
    assert_one_line(code, err, "capacity", "GB")
    assert not (tmp_path / "run").exists()
