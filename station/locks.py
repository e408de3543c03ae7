"""Cross-process locks on a file, for POSIX and Windows.

The line lock makes sure only one process provisions from a station database
(and may therefore mark attempts left open by a crash as aborted); the sync lock
keeps two syncs of one station from running at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from station.errors import StationError

if TYPE_CHECKING:
    from station.config import StationConfig


class LockBusy(StationError):
    code = "LOCK_BUSY"


class FileLock:
    def __init__(self, path: Path, *, purpose: str) -> None:
        self.path = path
        self.purpose = purpose
        self._handle: int | None = None

    def acquire(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(handle)
        except OSError:
            os.close(handle)
            raise LockBusy(
                f"another process is already {self.purpose} (lock {self.path})",
                hint="Close the other station window or stop the other command (or wait for it "
                "to finish), then start this one again.",
            ) from None
        os.ftruncate(handle, 0)
        os.write(handle, f"{os.getpid()}\n".encode())
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is None:
            return
        try:
            _unlock(self._handle)
        finally:
            os.close(self._handle)
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


if os.name == "nt":  # pragma: no cover - exercised on Windows line PCs
    import msvcrt

    def _lock(handle: int) -> None:
        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)

    def _unlock(handle: int) -> None:
        os.lseek(handle, 0, os.SEEK_SET)
        msvcrt.locking(handle, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(handle: int) -> None:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: int) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)


def lock_path(config: StationConfig, name: str) -> Path:
    """Where the lock called ``name`` of a station lives: beside its database."""
    return config.database.with_name(f"{config.database.name}.{name}.lock")
