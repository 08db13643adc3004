"""One writer per run directory: an OS lock held for the life of the training process.

`rlkit run` and `--resume` take an exclusive `flock` on RUN_DIR/.lock before they write
anything there, and hold it until they end. The kernel drops the lock when the process dies,
however it dies (kill -9 included), so a crashed run never leaves a stale lock that blocks
`--resume`; only a live process holds it. The file itself stays, holding the last holder's
pid, host and start time, which a refused second writer names. `rlkit eval` only reads a run
and takes no lock. (flock is local to a machine: on a network filesystem shared by several
hosts, writers on different hosts may not see each other's lock.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime
from pathlib import Path
from types import TracebackType

from rlkit.errors import RlkitError

LOCK_NAME = ".lock"


class RunLock:
    """The exclusive lock of `run_dir`; a context manager. On release it takes away what it
    made and nobody used: the lock file if the holder was never announced (a writer that
    refused the directory), the directory if nothing but the lock file was written into it (a
    run that failed before writing). Either way the directory is left as it was found."""

    def __init__(self, run_dir: Path, announce: bool = True) -> None:
        self.run_dir, self.announce_on_acquire = run_dir, announce
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None
        self._made_dir = self._made_file = self._announced = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise RlkitError naming the process that holds it."""
        self._made_dir = not self.run_dir.exists()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._made_file = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            described = _describe(_read(fd))
            os.close(fd)
            raise RlkitError(
                f"run directory {self.run_dir} is in use by another rlkit process ({described}); "
                "wait for it to end or stop it, then try again"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        if self.announce_on_acquire:
            self.announce()

    def announce(self) -> None:
        """Write this process (pid, host, start time) into the held lock's file, for a refused
        writer to name. Separate from `acquire` so that a writer that goes on to refuse the
        directory (already used) changes nothing in it."""
        assert self._fd is not None, "announce() needs the lock"
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(holder) + "\n").encode(), 0)
        self._announced = True

    def release(self) -> None:
        """Let go of the lock (the file stays; only a held flock means "in use")."""
        if self._fd is None:
            return
        # still under the lock, so no writer can be starting here: take away what this lock
        # made if nothing else was written (a writer that refused the run leaves no trace)
        if self._made_file and not self._announced:
            self.path.unlink()
        if self._made_dir and not any(p.name != LOCK_NAME for p in self.run_dir.iterdir()):
            self.path.unlink(missing_ok=True)
            self.run_dir.rmdir()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _read(fd: int) -> dict[str, object]:
    """The holder record in the lock file ({} if it is not there yet or unreadable)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _describe(holder: dict[str, object]) -> str:
    """'pid 123 on host, started 2026-12-04T06:30:01+00:00', or what is known of it."""
    if "pid" not in holder:
        return "its details are still being written"
    return f"pid {holder['pid']} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
