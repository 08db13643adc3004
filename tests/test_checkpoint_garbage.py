"""Files that are not torch.save's zip archives are refused as corrupt before torch reads them,
quietly: torch's legacy reader warned when garbage began like a pickle of another protocol."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from rlkit import checkpoint
from rlkit.errors import CheckpointError

PICKLE_PROTOCOL_5 = b"\x80\x05"
"""What os.urandom gives about once in 256 corrupted checkpoints (tests/test_bad_input.py)."""


def load_quietly(path: Path, match: str) -> None:
    """checkpoint.load(path) raises CheckpointError matching `match` and warns nothing (a warning
    turned into an error would be caught by load and pass unseen)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match=match):
            checkpoint.load(path)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("start", [PICKLE_PROTOCOL_5, b"\x00\x01", b"PK"])
def test_garbage_is_corrupt_without_a_warning(tmp_path: Path, start: bytes) -> None:
    path = tmp_path / "step-0000000100.pt"
    path.write_bytes(start + bytes(range(256)) * 4)
    load_quietly(path, "corrupt or not an rlkit checkpoint")


def test_torchs_legacy_format_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    payload = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION}
    torch.save(payload, path, _use_new_zipfile_serialization=False)
    load_quietly(path, "not the zip archive that torch.save writes")


def test_a_checkpoint_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "step-0000000100.pt"
    checkpoint.save(path, {"counters": {"step": 100}})
    assert checkpoint.load(path)["counters"] == {"step": 100}
