"""Checkpoints: atomic writes, weights_only loads, numpy round trips, clear errors."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from rlkit import checkpoint
from rlkit.errors import CheckpointError


def test_round_trip_keeps_numpy_tensors_and_big_ints(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    payload = {
        "q": np.arange(6, dtype=np.float64).reshape(2, 3),
        "mask": np.array([True, False]),
        "w": torch.ones(2),
        "rng": rng.bit_generator.state,  # holds 128-bit integers
        "nested": [np.int64(3), (1, 2.5, None)],
    }
    path = tmp_path / "c.pt"
    checkpoint.save(path, payload)
    loaded = checkpoint.load(path)
    np.testing.assert_array_equal(loaded["q"], payload["q"])
    assert loaded["q"].dtype == np.float64
    assert loaded["mask"].dtype == np.bool_
    assert torch.equal(loaded["w"], payload["w"])
    assert loaded["rng"] == rng.bit_generator.state
    assert loaded["nested"] == [3, (1, 2.5, None)]
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_save_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    checkpoint.save(path, {"v": 1})
    checkpoint.save(path, {"v": 2})
    assert checkpoint.load(path)["v"] == 2


def test_corrupt_and_foreign_files_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    checkpoint.save(good, {"v": np.zeros(1000)})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt is corrupt"):
        checkpoint.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match="not an rlkit checkpoint"):
        checkpoint.load(foreign)
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.pt")


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("code ran",))


def test_arbitrary_pickles_are_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": checkpoint.FORMAT, "version": 1, "x": Evil()}, f, protocol=2)
    with pytest.raises(CheckpointError, match="corrupt or not an rlkit checkpoint"):
        checkpoint.load(path)


def test_latest_and_prune(tmp_path: Path) -> None:
    for step in (100, 20, 3000):
        checkpoint.save(checkpoint.checkpoint_path(tmp_path, step), {"s": step})
    assert checkpoint.latest(tmp_path).name == "step-0000003000.pt"
    checkpoint.prune(tmp_path, keep=2)
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == [
        "step-0000000100.pt",
        "step-0000003000.pt",
    ]
    with pytest.raises(CheckpointError, match="has no checkpoints"):
        checkpoint.latest(tmp_path / "checkpoints")
