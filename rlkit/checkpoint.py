"""Checkpoints: atomic writes, `weights_only=True` loads, numpy arrays carried as tensors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlkit.errors import CheckpointError

FORMAT = "rlkit-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step-(\d+)\.pt$")


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` atomically: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            out = _ReportingFile(f)
            try:
                torch.save(encode({"format": FORMAT, "version": VERSION, **payload}), out)  # type: ignore[arg-type]
            except RuntimeError:
                if out.error is not None:  # torch reports a failed write as its own error
                    raise out.error from None
                raise
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None or exc.filename == str(tmp):
            exc.filename = str(path)  # name the checkpoint, not its temporary file
        raise
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


class _ReportingFile:
    """A binary file for torch.save that keeps the OSError of a failed write (disk full...),
    which torch's writer turns into an uninformative RuntimeError."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            written: int = self.file.write(data)
        except OSError as exc:
            self.error = exc
            raise
        return written

    def flush(self) -> None:
        self.file.flush()


def remove_temporaries(run_dir: Path) -> None:
    """Delete the temporary files of writes that never finished (a writer killed mid-write)
    in `run_dir` and its checkpoints folder. Call only while holding the run's lock."""
    for folder in (run_dir, run_dir / "checkpoints"):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    """Replace the text file `path` in one step (a crash or a failed write leaves the old
    file and no temporary one)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save`, refusing anything that is not one."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    payload = _torch_load(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rlkit checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {payload.get('version')}; "
            f"this rlkit reads version {VERSION}"
        )
    decoded: dict[str, Any] = decode(payload)
    return decoded


_ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of every file torch.save writes: rlkit checkpoints are its zip archives. Any
other file (garbage, a bare pickle, torch's legacy format) is refused before torch reads it, as
torch's legacy reader would unpickle it and warn when a byte of it looks like a pickle protocol
other than 2 (a UserWarning printed before rlkit's one-line error)."""


def _torch_load(path: Path) -> Any:
    """torch.load(weights_only=True) of a file torch.save wrote; CheckpointError for others."""
    try:
        with open(path, "rb") as f:
            zipped = f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
        if zipped:  # by path, as before: torch opens a named file itself
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for truncated or foreign files
        why = f"torch.load with weights_only=True failed: {type(exc).__name__}"
        raise _corrupt(path, why) from None
    raise _corrupt(path, "not the zip archive that torch.save writes")


def _corrupt(path: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} is corrupt or not an rlkit checkpoint ({why}); move it aside to "
        "resume or evaluate from the earlier checkpoints/step-*.pt"
    )


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step-{step:010d}.pt"


BEST = "best.pt"
"""The agent of a run's best evaluation, in its checkpoints folder (run.keep_best):
never rotated, and not a resume point (it holds what acting needs, not the training state)."""


def best_path(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / BEST


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run directory, oldest first."""
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest(target: Path) -> Path:
    """`target` itself if it is a file, else the newest checkpoint of run directory `target`."""
    if target.is_file():
        return target
    if not target.is_dir():
        raise CheckpointError(f"{target} is neither a run directory nor a checkpoint file")
    found = list_checkpoints(target)
    if not found:
        raise CheckpointError(f"run directory {target} has no checkpoints/step-*.pt to load")
    return found[-1]


def prune(run_dir: Path, keep: int, names: list[str] | None = None) -> list[str]:
    """Delete all but the newest `keep` (0: none deleted) of the checkpoints named `names`
    (oldest first; default: every checkpoint of the run directory); return the names kept."""
    if names is None:
        names = [p.name for p in list_checkpoints(run_dir)]
    if keep <= 0:
        return names
    for old in names[:-keep]:
        (run_dir / "checkpoints" / old).unlink(missing_ok=True)
    return names[-keep:]


def encode(obj: Any) -> Any:
    """Make `obj` loadable with weights_only=True: numpy arrays become tagged tensors."""
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(obj).copy())}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(encode(v) for v in obj)
    return obj


def decode(obj: Any) -> Any:
    """Undo `encode`."""
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__"}:
            return obj["__ndarray__"].numpy()
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(decode(v) for v in obj)
    return obj


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
