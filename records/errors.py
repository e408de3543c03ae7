"""Typed errors raised by :mod:`records`.

Every error carries a stable ``code`` class attribute. Callers (the pipeline, the CLI, the
GUI) map codes to operator messages and exit statuses, so a code never changes once
shipped; the message text may.
"""

from __future__ import annotations


class RecordsError(Exception):
    """Base class of every error this package raises on purpose."""

    code = "RECORDS_ERROR"


class SchemaTooNew(RecordsError):
    """The database was written by a newer station; this version must not touch it."""

    code = "DB_SCHEMA_TOO_NEW"

    def __init__(self, found: int, supported: int, path: str) -> None:
        super().__init__(
            f"{path} has schema version {found}, but this station only knows versions up to "
            f"{supported}; upgrade the station software (the database was left unchanged)"
        )
        self.found = found
        self.supported = supported


class DatabaseLocked(RecordsError):
    """Another process held the database lock for longer than the busy timeout."""

    code = "DB_LOCKED"


class DatabaseCorrupt(RecordsError):
    """SQLite says the file is not a database or is damaged."""

    code = "DB_CORRUPT"


class DatabaseFull(RecordsError):
    """The disk (or the file system's quota) is full: nothing more can be recorded."""

    code = "DB_FULL"


class DatabaseReadOnly(RecordsError):
    """The database file, its folder or the file system is read-only."""

    code = "DB_READ_ONLY"


class DatabaseIOError(RecordsError):
    """The operating system reported an I/O error on the database (a failing disk)."""

    code = "DB_IO_ERROR"


class BatchNotFound(RecordsError):
    code = "BATCH_NOT_FOUND"


class BatchClosed(RecordsError):
    code = "BATCH_CLOSED"


class BatchExists(RecordsError):
    """A batch with this id already exists for a different product."""

    code = "BATCH_EXISTS"


class UnitNotFound(RecordsError):
    code = "UNIT_NOT_FOUND"


class DuplicateDeviceKey(RecordsError):
    """The board's public key is already recorded for another serial (a broken RNG or a clone)."""

    code = "DEVICE_KEY_REPEATED"

    def __init__(self, device_key_sha256: str, serial: str, other_serial: str) -> None:
        super().__init__(
            f"the public key of {serial} (sha256 {device_key_sha256}) was already seen on "
            f"{other_serial}"
        )
        self.device_key_sha256 = device_key_sha256
        self.serial = serial
        self.other_serial = other_serial


class AttemptNotFound(RecordsError):
    code = "ATTEMPT_NOT_FOUND"


class AttemptNotOpen(RecordsError):
    """The attempt does not exist or is already finished (pass, fail or aborted)."""

    code = "ATTEMPT_NOT_OPEN"


class UserExists(RecordsError):
    code = "USER_EXISTS"


class UserNotFound(RecordsError):
    code = "USER_NOT_FOUND"
