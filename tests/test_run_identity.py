"""A run directory that knows itself: a checkpoint of another experiment is refused by eval and
--resume in one line and left untouched, rotation never deletes a checkpoint the run did not
write, and an agent state that does not fit its config is one line, not a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import cli, small_experiment

from rlkit import checkpoint
from rlkit.config import dumps_toml
from rlkit.training.identity import WRITTEN, written
from rlkit.training.lock import LOCK_NAME

pytestmark = pytest.mark.faults

FOREIGN = "step-0000999999.pt"  # newest by its name


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


def make_run(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], **env: Any) -> Path:
    experiment = small_experiment(total_steps=2_000, checkpoint_every=500, keep_checkpoints=2)
    experiment["env"].update(env)
    path = tmp_path / f"{name}.toml"
    path.write_text(dumps_toml(experiment))
    run_dir = tmp_path / name
    code, err = cli(capsys, "run", path, "--logdir", run_dir)
    assert code == 0, err
    return run_dir


@pytest.fixture
def runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """A FrozenLake run and a Taxi run, both tabular."""
    lake = make_run(tmp_path, "lake", capsys)
    taxi = make_run(tmp_path, "taxi", capsys, id="Taxi-v4", kwargs={})
    return lake, taxi


def test_a_foreign_newest_checkpoint_is_refused_and_left_untouched(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, taxi = runs
    shutil.copy(checkpoint.list_checkpoints(taxi)[-1], lake / "checkpoints" / FOREIGN)
    before = tree(lake)
    final = ("eval", lake, "--checkpoint", "final")
    for argv in (final, ("run", "--resume", lake, "--set", "run.total_steps=3000")):
        code, err = cli(capsys, *argv)
        assert code == 2
        assert err.count("\n") == 1
        assert f"checkpoint {lake / 'checkpoints' / FOREIGN} belongs to another experiment" in err
        assert "(small: tabular on Taxi-v4, seed 7)" in err
        assert "(small: tabular on FrozenLake-v1, seed 7)" in err
        assert tree(lake) == before
    code, err = cli(capsys, "eval", lake / "checkpoints" / FOREIGN)  # by its own path it plays
    assert code == 0, err


def test_rotation_never_deletes_a_checkpoint_the_run_did_not_write(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, taxi = runs
    foreign = lake / "checkpoints" / "step-0000000001.pt"  # oldest by its name
    shutil.copy(checkpoint.list_checkpoints(taxi)[-1], foreign)
    assert written(lake) == ["step-0000001500.pt", "step-0000002000.pt"]
    code, err = cli(capsys, "run", "--resume", lake, "--set", "run.total_steps=3000")
    assert code == 0, err
    names = [p.name for p in checkpoint.list_checkpoints(lake)]
    assert names == ["step-0000000001.pt", "step-0000002500.pt", "step-0000003000.pt"]
    assert written(lake) == names[1:]


def test_a_run_directory_from_before_the_list_adopts_only_its_own_checkpoints(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, taxi = runs
    (lake / "checkpoints" / WRITTEN).unlink()
    shutil.copy(checkpoint.list_checkpoints(taxi)[-1], lake / "checkpoints" / "step-0000000001.pt")
    code, err = cli(capsys, "run", "--resume", lake, "--set", "run.total_steps=3000")
    assert code == 0, err
    names = [p.name for p in checkpoint.list_checkpoints(lake)]
    assert names == ["step-0000000001.pt", "step-0000002500.pt", "step-0000003000.pt"]


def test_an_agent_state_that_does_not_fit_its_config_is_one_line(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    lake, _ = runs
    newest = checkpoint.list_checkpoints(lake)[-1]
    state = checkpoint.load(newest)
    state["agent"] = {"online": state["agent"]}  # not the tabular agent's state
    del state["format"], state["version"]
    checkpoint.save(newest, state)
    before = tree(lake)
    final = ("eval", lake, "--checkpoint", "final")
    for argv in (final, ("run", "--resume", lake, "--set", "run.total_steps=3000")):
        code, err = cli(capsys, *argv)
        assert code == 2
        assert err.count("\n") == 1
        assert "the checkpoint's agent state does not fit the agent its own config builds" in err
        assert tree(lake) == before
