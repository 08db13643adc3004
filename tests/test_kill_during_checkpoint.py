"""kill -9 at random points of checkpoint writing, then `--resume`: the run ends exactly where
the uninterrupted run ends, and no temporary file is left behind.

The training process is `rlkit run` in a child Python whose checkpoint writer sends itself
SIGKILL part way through one save: after a random number of bytes of the checkpoint (the
temporary file half written), or between the atomic rename and the rotation that follows."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_outcome, small_experiment

from rlkit import checkpoint
from rlkit.config import dumps_toml

pytestmark = pytest.mark.faults

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from rlkit import checkpoint
    from rlkit.cli import main

    save_index, byte_limit = int(sys.argv[1]), int(sys.argv[2])
    saves = {"count": 0, "bytes": 0}
    original_write, original_save = checkpoint._ReportingFile.write, checkpoint.save

    def write(self, data):
        saves["bytes"] += len(data)
        if saves["count"] == save_index and 0 <= byte_limit < saves["bytes"]:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-write: the temporary file is partial
        return original_write(self, data)

    def save(path, payload):
        saves["count"] += 1
        saves["bytes"] = 0
        original_save(path, payload)
        if saves["count"] == save_index and byte_limit < 0:
            os.kill(os.getpid(), signal.SIGKILL)  # renamed into place, not yet rotated

    checkpoint._ReportingFile.write, checkpoint.save = write, save
    sys.exit(main(sys.argv[3:]))
    """
)


def rlkit(*argv: object, killer: tuple[int, int] | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["-c", KILLER, *map(str, killer)] if killer else ["-m", "rlkit"]
    return subprocess.run(
        [sys.executable, *prefix, *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    root = tmp_path_factory.mktemp("kill")
    experiment = root / "small.toml"
    run = {"total_steps": 3_000, "checkpoint_every": 500, "keep_checkpoints": 2}
    experiment.write_text(dumps_toml(small_experiment(**run)))
    done = rlkit("run", experiment, "--logdir", root / "whole")
    assert done.returncode == 0, done.stderr
    return experiment, json.loads((root / "whole" / "summary.json").read_text())


@pytest.mark.parametrize("seed", range(4))
def test_kill_9_while_a_checkpoint_is_written_then_resume_ends_where_the_run_would(
    seed: int, uninterrupted: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    experiment, whole = uninterrupted
    rng = np.random.default_rng(seed)
    save_index = int(rng.integers(2, 6))  # one of the periodic saves at 1,000..2,500 steps
    byte_limit = -1 if seed == 3 else int(rng.integers(0, 3_000))
    run_dir = tmp_path / "run"
    killed = rlkit("run", experiment, "--logdir", run_dir, killer=(save_index, byte_limit))
    assert killed.returncode == -9, killed.stderr
    for path in checkpoint.list_checkpoints(run_dir):
        checkpoint.load(path)  # whatever is in place is whole
    resumed = rlkit("run", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert not list(run_dir.rglob("*.tmp"))  # the dead writer's half file is gone
    assert_same_outcome(run_dir, whole)
    assert len(checkpoint.list_checkpoints(run_dir)) == 2  # the rotation window holds
