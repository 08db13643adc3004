"""Storage faults are one line and lose nothing: a disk that fills up mid-run (a real 150 kB
tmpfs where the test may mount one, and everywhere an ENOSPC injected at a checkpoint's write),
a read-only filesystem, and run directories that cannot be made end with one line naming the
path and the cause and exit code 3, leave no temporary file and every earlier checkpoint
loadable, and `--resume` finishes the run as if nothing had happened."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_same_outcome, cli, small_experiment

from rlkit import checkpoint
from rlkit.config import dumps_toml

pytestmark = pytest.mark.faults


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    run = {"total_steps": 2_000, "checkpoint_every": 500, "keep_checkpoints": 10}
    path.write_text(dumps_toml(small_experiment(**run)))
    return path


def fill_disk_at_save(monkeypatch: pytest.MonkeyPatch, failing_save: int) -> None:
    """Make the `failing_save`-th periodic checkpoint write fail as a full disk does, part way
    in (best.pt's writes are not counted and do not fail)."""
    original = checkpoint._ReportingFile.write
    saves: dict[str, int] = {"count": 0, "bytes": 0}
    real_save = checkpoint.save

    def counting_save(path: Path, payload: dict[str, object]) -> None:
        periodic = path.name != checkpoint.BEST
        saves["count"] += periodic
        saves["bytes"] = 0 if periodic else -(10**12)  # a best.pt write never reaches the limit
        real_save(path, payload)

    class FullDisk:
        """The file as a full disk leaves it: every write fails with ENOSPC."""

        def __init__(self, name: str) -> None:
            self.name = name

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def write(self: checkpoint._ReportingFile, data: bytes) -> int:
        saves["bytes"] += len(data)
        if saves["count"] == failing_save and saves["bytes"] > 200:
            self.file = FullDisk(self.file.name)
        return original(self, data)

    monkeypatch.setattr(checkpoint, "save", counting_save)
    monkeypatch.setattr(checkpoint._ReportingFile, "write", write)


def test_a_disk_that_fills_up_mid_run_is_one_line_and_resume_finishes_the_run(
    experiment: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = tmp_path / "whole"
    assert cli(capsys, "run", experiment, "--logdir", whole)[0] == 0
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        fill_disk_at_save(patch, failing_save=3)  # the checkpoint at step 1,500
        code, err = cli(capsys, "run", experiment, "--logdir", run_dir)
    assert code == 3
    assert err.count("\n") == 1
    failed = checkpoint.checkpoint_path(run_dir, 1_500)
    assert err.startswith(f"rlkit: error: cannot write {failed}: No space left on device")
    assert "No space left on device (ENOSPC); what was saved before is intact" in err
    assert f"continue with: rlkit run --resume {run_dir}" in err
    assert not list(run_dir.rglob("*.tmp"))
    assert [p.name for p in checkpoint.list_checkpoints(run_dir)] == [
        "step-0000000500.pt",
        "step-0000001000.pt",
    ]
    for path in checkpoint.list_checkpoints(run_dir):
        checkpoint.load(path)  # intact
    code, err = cli(capsys, "run", "--resume", run_dir)
    assert code == 0, err
    assert_same_outcome(run_dir, whole)


@pytest.mark.parametrize(
    ("logdir", "cause"),
    [
        ("a-file/run", "Not a directory (ENOTDIR)"),
        ("/proc/rlkit-cannot-be-here", "(ENOENT)"),
    ],
)
def test_a_run_directory_that_cannot_be_made_is_one_line(
    experiment: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    logdir: str,
    cause: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("in the way\n")
    code, err = cli(capsys, "run", experiment, "--logdir", logdir)
    assert code == 3
    assert err.count("\n") == 1
    assert err.startswith(f"rlkit: error: cannot write {logdir}")
    assert cause in err
    assert "start the run again" in err
    assert (tmp_path / "a-file").read_text() == "in the way\n"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 150 kB tmpfs at tmp_path/disk (skipped where this test may not mount one)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=150k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root in a machine that allows it)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_a_real_full_disk_then_more_space_and_resume(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = tmp_path / "long.toml"
    run = {"total_steps": 20_000, "checkpoint_every": 200, "keep_checkpoints": 1_000}
    experiment.write_text(dumps_toml(small_experiment(**run)))
    whole = tmp_path / "whole"
    assert cli(capsys, "run", experiment, "--logdir", whole)[0] == 0
    run_dir = small_disk / "run"
    code, err = cli(capsys, "run", experiment, "--logdir", run_dir)
    assert code == 3
    assert err.count("\n") == 1
    assert f"rlkit: error: cannot write {run_dir}" in err
    assert "No space left on device (ENOSPC); what was saved before is intact" in err
    assert not list(run_dir.rglob("*.tmp"))
    saved = checkpoint.list_checkpoints(run_dir)
    assert saved
    for path in saved:
        checkpoint.load(path)
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    code, err = cli(capsys, "run", "--resume", run_dir)
    assert code == 0, err
    assert_same_outcome(run_dir, whole)


def test_a_read_only_filesystem_is_one_line_and_touches_nothing(
    small_disk: Path, experiment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, err = cli(capsys, "run", experiment, "--logdir", small_disk / "run")
    assert code == 3
    assert err.count("\n") == 1
    assert f"rlkit: error: cannot write {small_disk / 'run'}: Read-only file system (EROFS)" in err
    assert list(small_disk.iterdir()) == []
