"""`--resume` from any state a run can be left in: a run with no checkpoint yet (killed early, or
stopped before its first) starts again from step 0 with its config.toml, saying so; resuming
writes no checkpoint before it has made progress, so rotation never pushes out an older one
without a newer one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import cli, small_experiment

from rlkit.checkpoint import list_checkpoints
from rlkit.config import dumps_toml
from rlkit.plot import read_scalars

pytestmark = pytest.mark.faults


def experiment_file(tmp_path: Path, **run: object) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(dumps_toml(small_experiment(total_steps=2_000, keep_checkpoints=2, **run)))
    return path


def test_a_run_without_checkpoints_starts_again_from_its_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = experiment_file(tmp_path)
    fresh, damaged = tmp_path / "fresh", tmp_path / "damaged"
    for run_dir in (fresh, damaged):
        assert cli(capsys, "run", experiment, "--logdir", run_dir)[0] == 0
    for path in list_checkpoints(damaged):  # as if stopped before its first checkpoint
        path.unlink()
    (damaged / "summary.json").unlink()
    code, err = cli(capsys, "run", "--resume", damaged)
    assert code == 0, err
    assert f"rlkit: {damaged} has no checkpoint yet: starting it again from step 0" in err
    mine = json.loads((damaged / "summary.json").read_text())
    theirs = json.loads((fresh / "summary.json").read_text())
    for key in ("steps", "episodes", "final_eval", "seed"):
        assert mine[key] == theirs[key], key
    steps, values = read_scalars(damaged, "eval/mean_return")  # the first attempt's purged
    fresh_steps, fresh_values = read_scalars(fresh, "eval/mean_return")
    assert len(fresh_steps) == 2  # evaluations at 1,000 and 2,000 steps, once each
    np.testing.assert_array_equal(steps, fresh_steps)
    np.testing.assert_array_equal(values, fresh_values)


def test_a_run_killed_before_its_first_checkpoint_can_be_resumed(tmp_path: Path) -> None:
    experiment = experiment_file(tmp_path, checkpoint_every=10_000_000, eval_every=0)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "rlkit", "run", str(experiment), "--logdir", str(run_dir)]
    writer = subprocess.Popen([*command, "--set", "run.total_steps=100000000"])
    deadline = time.monotonic() + 120
    while not (run_dir / "config.toml").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # training
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert list_checkpoints(run_dir) == []
    resumed = subprocess.run(
        [sys.executable, "-m", "rlkit", "run", "--resume", str(run_dir),
         "--set", "run.total_steps=2000"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "has no checkpoint yet: starting it again from step 0" in resumed.stderr
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 2_000


def test_without_a_checkpoint_or_a_config_resume_says_how_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    code, err = cli(capsys, "run", "--resume", run_dir)
    assert code == 2
    assert err.count("\n") == 1
    assert "has no checkpoint and no config.toml" in err
    assert f"rlkit run EXPERIMENT --logdir {run_dir}" in err
    assert list(run_dir.iterdir()) == []  # nothing written, not even the lock file


def test_resuming_writes_no_checkpoint_before_progress_and_keeps_the_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = experiment_file(tmp_path, checkpoint_every=1_000)
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", experiment, "--logdir", run_dir)[0] == 0
    names = [p.name for p in list_checkpoints(run_dir)]
    assert names == ["step-0000001000.pt", "step-0000002000.pt"]
    assert cli(capsys, "run", "--resume", run_dir, "--set", "run.total_steps=2500")[0] == 0
    names = [p.name for p in list_checkpoints(run_dir)]
    assert names == ["step-0000002000.pt", "step-0000002500.pt"]  # no step-2004 pushing out
    assert cli(capsys, "run", "--resume", run_dir, "--set", "run.total_steps=4000")[0] == 0
    names = [p.name for p in list_checkpoints(run_dir)]
    assert names == ["step-0000003500.pt", "step-0000004000.pt"]  # periodic, then final
