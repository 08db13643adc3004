"""One writer per run directory: a second `rlkit run` or `--resume` on a directory in use is one
line naming the holder and exit 2 with nothing written; a killed holder leaves no stale lock;
`rlkit eval` reads a locked run; two writers started together leave one consistent run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import cli, small_experiment

from rlkit.config import dumps_toml
from rlkit.errors import RlkitError
from rlkit.training.lock import LOCK_NAME, RunLock

pytestmark = pytest.mark.faults

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rlkit.training.lock import RunLock
    lock = RunLock(Path(sys.argv[1]))
    lock.acquire()
    print("locked", flush=True)
    time.sleep(120)
    """
)


def hold_lock(run_dir: Path) -> subprocess.Popen[str]:
    """Another process holding `run_dir`'s lock (until killed)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"
    return holder


def files(run_dir: Path) -> dict[str, bytes]:
    """Every file under `run_dir` (the lock file aside) with its contents."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(dumps_toml(small_experiment(total_steps=2_000)))
    return path


def test_a_second_lock_names_the_holder_and_a_killed_holder_leaves_no_stale_lock(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    holder = hold_lock(run_dir)
    try:
        with pytest.raises(RlkitError) as refused:
            RunLock(run_dir).acquire()
        message = str(refused.value)
        assert message.startswith(f"run directory {run_dir} is in use by another rlkit process")
        assert f"pid {holder.pid} on " in message
        assert "started 20" in message
        assert json.loads((run_dir / LOCK_NAME).read_text())["pid"] == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with RunLock(run_dir):  # the kernel dropped the dead holder's lock
        assert json.loads((run_dir / LOCK_NAME).read_text())["pid"] == os.getpid()


def test_run_and_resume_on_a_directory_in_use_exit_2_and_write_nothing(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", experiment, "--logdir", run_dir)[0] == 0
    before = files(run_dir)
    holder = hold_lock(run_dir)
    try:
        for argv in (
            ("run", experiment, "--logdir", run_dir),
            ("run", "--resume", run_dir, "--set", "run.total_steps=3000"),
        ):
            code, err = cli(capsys, *argv)
            assert code == 2
            assert err.count("\n") == 1
            assert f"is in use by another rlkit process (pid {holder.pid} on " in err
            assert files(run_dir) == before
        code, err = cli(capsys, "eval", run_dir)  # reading needs no lock
        assert code == 0, err
        assert files(run_dir) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    code, err = cli(capsys, "run", "--resume", run_dir, "--set", "run.total_steps=3000")
    assert code == 0, err
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 3_000


def test_a_run_that_fails_before_writing_leaves_no_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = small_experiment()
    bad["env"]["kwargs"] = {"no_such_option": 1}  # gymnasium.make refuses it
    path = tmp_path / "bad.toml"
    path.write_text(dumps_toml(bad))
    code, err = cli(capsys, "run", path, "--logdir", tmp_path / "run")
    assert code == 2, err
    assert not (tmp_path / "run").exists()


def test_a_finished_run_directory_still_says_resume(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    assert cli(capsys, "run", experiment, "--logdir", run_dir)[0] == 0
    code, err = cli(capsys, "run", experiment, "--logdir", run_dir)
    assert code == 2
    assert f"run directory {run_dir} already exists" in err


def test_two_writers_started_together_leave_one_consistent_run(
    experiment: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "rlkit", "run", str(experiment), "--logdir", str(run_dir)]
    command += ["--set", "run.total_steps=8000"]  # seconds of training: they overlap
    writers = [
        subprocess.Popen([*command, "--seed", str(seed)], stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)
    ]
    results = [(w.wait(timeout=300), w.stderr.read() if w.stderr else "") for w in writers]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (refusal,) = [err for code, err in results if code == 2]
    assert "is in use by another rlkit process" in refusal  # the winner is still training
    (winner,) = [seed for (code, _), seed in zip(results, (1, 2), strict=True) if code == 0]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["seed"] == winner
    assert f"seed = {winner}" in (run_dir / "config.toml").read_text()
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
